// Python `websockets` with three 4 MiB messages and a burst of 10,000 messages
// of 1 KiB, as client and as server (fixtures/websockets_burst.py). npm test
// runs this with the fast paths on (source and dist passes: our framing, the
// receive lane for the 1 KiB messages) and off.
import { join } from 'node:path';
import { type PythonPeer, expectSameTensor, pythonPeer, requirePython } from '@harmonics/conformance';
import { WebSocketConsumer, WebSocketProducer, WebSocketServer } from '@harmonics/transport-ws';
import { fastReceived } from '../src/fast-receive';
import { burstTensors, laneVisible } from './fixtures/burst';
import { acceptPair } from './fixtures/accept';

const start = (args: string[]): PythonPeer => pythonPeer(join(__dirname, 'fixtures/websockets_burst.py'), args);

it('Python websockets as client: 3 × 4 MiB and a burst of 10,000 × 1 KiB arrive bit-exact and go back byte-identical', async () => {
  requirePython(); // before the server: without a peer, nothing is left open
  const server = await WebSocketServer.listen();
  const peer = start(['client', String(server.port)]);
  const laneBefore = fastReceived.frames;
  try {
    const [inbound, outbound] = await acceptPair(server, '/in');
    const producer = inbound.producer();
    const consumer = outbound.consumer();
    const want = burstTensors();
    for (const t of want) {
      const got = await producer.next();
      expectSameTensor(got, t);
      await consumer.push(got!);
    }
    expect({ line: await peer.line(), code: await peer.exited, stderr: peer.stderr() }).toEqual({ line: `ok ${want.length}`, code: 0, stderr: '' });
    expect(await producer.next()).toBeUndefined();
    if (laneVisible) expect(fastReceived.frames - laneBefore).toBeGreaterThanOrEqual(10_000);
  } finally {
    await peer.stop();
    await server.close({ closeConnections: true });
  }
}, 120_000);

it('Python websockets as server: our consumer sends them in one burst, our producer reads them back bit-exact and sees the normal close', async () => {
  const peer = start(['server']);
  const laneBefore = fastReceived.frames;
  try {
    const port = Number(await peer.line());
    const want = burstTensors();
    const consumer = new WebSocketConsumer('127.0.0.1', port, '/sink');
    for (const t of want) await consumer.push(t);
    await consumer.close();
    expect({ line: await peer.line(), stderr: peer.stderr() }).toEqual({ line: `sink ok ${want.length}`, stderr: '' });
    const producer = new WebSocketProducer(`ws://127.0.0.1:${port}/source`);
    for (const t of want) expectSameTensor(await producer.next(), t);
    expect(await producer.next()).toBeUndefined();
    expect({ code: await peer.exited, stderr: peer.stderr() }).toEqual({ code: 0, stderr: '' });
    if (laneVisible) expect(fastReceived.frames - laneBefore).toBeGreaterThanOrEqual(10_000);
  } finally {
    await peer.stop();
  }
}, 120_000);
