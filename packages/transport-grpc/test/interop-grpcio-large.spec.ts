// Python grpcio with 4 MiB and 64 MiB tensors, both ways (fixtures/grpcio_large.py):
// grpcio as a client of our GrpcServer, and as the server our GrpcConsumer and
// GrpcProducer talk to. npm test runs this with the fast paths on (source and
// dist passes: Buffer-like messages, 16 MiB server windows) and off.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Tensor } from '@harmonics/core';
import { type PythonPeer, bitPatternTensor, expectSameTensor, pythonPeer, requirePython } from '@harmonics/conformance';
import { GrpcConsumer, GrpcProducer, GrpcServer } from '@harmonics/transport-grpc';

// grpcio_large.py's LARGE, built here independently.
const LARGE = (): Tensor[] => [bitPatternTensor([1024, 1024], 0x9e3779b1), bitPatternTensor([4096, 4096], 0x85ebca77)];

interface Peer extends PythonPeer {
  work: string;
}

function peer(args: (work: string) => string[]): Peer {
  const work = mkdtempSync(join(tmpdir(), 'harmonics-grpcio-large-'));
  return { ...pythonPeer(join(__dirname, 'fixtures/grpcio_large.py'), args(work)), work };
}

async function stop(p: Peer): Promise<void> {
  await p.stop();
  rmSync(p.work, { recursive: true, force: true });
}

const PROTO_DIR = resolve(__dirname, '..');

it('a grpcio client pushes 4 MiB and 64 MiB tensors to our GrpcServer and pops them back, bit-exact both ways', async () => {
  requirePython(); // before the server: without a peer, nothing is left open
  const server = await GrpcServer.listen({ endWithLastWriter: false });
  const p = peer((work) => ['client', String(server.port), PROTO_DIR, work]);
  try {
    const want = LARGE();
    // Pop while grpcio pushes: 68 MiB is over the server's queue limit, so its PushTensor call completes only once we read.
    const got: (Tensor | undefined)[] = [];
    for (let i = 0; i < want.length; i++) got.push(await server.pop());
    expect({ line: await p.line(), stderr: p.stderr() }).toEqual({ line: 'pushed', stderr: '' });
    want.forEach((t, i) => expectSameTensor(got[i], t));
    for (const t of got) await server.push(t!);
    p.child.stdin!.write('go\n');
    expect({ line: await p.line(), code: await p.exited, stderr: p.stderr() }).toEqual({ line: 'ok 2', code: 0, stderr: '' });
  } finally {
    await stop(p);
    await server.close({ timeoutMs: 0 });
  }
}, 120_000);

it('our GrpcConsumer pushes 4 MiB and 64 MiB tensors to a grpcio server, and our GrpcProducer pops them back, bit-exact both ways', async () => {
  const p = peer((work) => ['server', PROTO_DIR, work]);
  try {
    const first = await p.line();
    expect({ first, stderr: p.stderr() }).toEqual({ first: expect.stringMatching(/^port \d+$/), stderr: '' });
    const port = Number(first!.split(' ')[1]);
    const want = LARGE();
    const consumer = new GrpcConsumer('127.0.0.1', port);
    for (const t of want) await consumer.push(t);
    await consumer.close();
    expect({ line: await p.line(), stderr: p.stderr() }).toEqual({ line: 'received ok 2', stderr: '' });
    const producer = new GrpcProducer('127.0.0.1', port);
    try {
      for (const t of want) expectSameTensor(await producer.next(), t);
      expect(await producer.next()).toBeUndefined(); // grpcio ended the PopTensor call after what it had
    } finally {
      await producer.close();
    }
  } finally {
    await stop(p);
  }
}, 120_000);
