// A second WebSocket implementation: Python `websockets`, as client and as
// server, exchanging records with ours (fixtures/websockets_peer.py).
import { join } from 'node:path';
import { type Tensor, tensor } from '@harmonics/core';
import { type PythonPeer, expectSameTensor, pythonPeer, requirePython } from '@harmonics/conformance';
import { WebSocketConsumer, WebSocketProducer, WebSocketServer } from '@harmonics/transport-ws';
import { acceptPair } from './fixtures/accept';

const PEER = join(__dirname, 'fixtures/websockets_peer.py');

/** What websockets_peer.py sends, built here independently. */
function samples(): Tensor[] {
  return [
    tensor(
      'float32',
      [2, 3],
      new Float32Array(6).map((_, i) => i * 0.5 - 1),
    ),
    tensor('int64', [4], new BigInt64Array([-(2n ** 40n), 0n, 2n ** 53n + 1n, -1n])),
    tensor('float64', [], new Float64Array([Math.PI])),
    tensor(
      'float32',
      [1 << 20],
      new Float32Array(1 << 20).map((_, i) => i * 0.25),
    ),
    tensor(
      'int16',
      [64, 64],
      new Int16Array(4096).map((_, i) => i),
    ),
  ];
}

const start = (args: string[]): PythonPeer => pythonPeer(PEER, args);

it('Python websockets as client: its records decode to the expected tensors and ours come back byte-identical', async () => {
  requirePython(); // before the server: without a peer, nothing is left open
  const server = await WebSocketServer.listen();
  const peer = start(['client', String(server.port)]);
  try {
    const [inbound, outbound] = await acceptPair(server, '/in');
    const producer = inbound.producer();
    const consumer = outbound.consumer();
    for (const want of samples()) {
      const got = await producer.next();
      expectSameTensor(got, want);
      await consumer.push(got!);
    }
    expect({ line: await peer.line(), code: await peer.exited, stderr: peer.stderr() }).toEqual({ line: 'ok 5', code: 0, stderr: '' });
    expect(await producer.next()).toBeUndefined(); // closed normally
  } finally {
    await peer.stop();
    await server.close({ closeConnections: true });
  }
}, 60_000);

it('Python websockets as server: our consumer sends, our producer reads them back and sees the normal close', async () => {
  const peer = start(['server']);
  try {
    const port = Number(await peer.line());
    const consumer = new WebSocketConsumer('127.0.0.1', port, '/sink');
    for (const t of samples()) await consumer.push(t);
    await consumer.close();
    const producer = new WebSocketProducer(`ws://127.0.0.1:${port}/source`);
    for (const want of samples()) expectSameTensor(await producer.next(), want);
    expect(await producer.next()).toBeUndefined();
    expect({ line: await peer.line(), code: await peer.exited, stderr: peer.stderr() }).toEqual({ line: 'ok 5', code: 0, stderr: '' });
  } finally {
    await peer.stop();
  }
}, 60_000);
