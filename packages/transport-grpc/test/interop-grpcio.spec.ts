// Another gRPC stack reads and writes our stream: Python grpcio, with stubs
// compiled from harmonics.proto and its own record encoder (fixtures/grpcio_peer.py).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Tensor, tensor } from '@harmonics/core';
import { expectSameTensor, pythonPeer, requirePython } from '@harmonics/conformance';
import { GrpcServer } from '@harmonics/transport-grpc';

/** What grpcio_peer.py sends, built here independently. */
function expected() {
  const f32 = new Float32Array(6).map((_, i) => i * 0.5 - 1);
  const i16 = new Int16Array(4096).map((_, i) => i);
  return [
    tensor('float32', [2, 3], f32),
    tensor('int64', [4], new BigInt64Array([-(2n ** 40n), 0n, 2n ** 53n + 1n, -1n])),
    tensor('uint8', [7], new Uint8Array([0, 37, 74, 111, 148, 185, 222])),
    tensor('float64', [], new Float64Array([Math.PI])),
    tensor('float32', [4], new Float32Array([NaN, -0, Infinity, 1e-45])),
    tensor('int16', [64, 64], i16),
  ];
}

it('a Python grpcio client pushes records and pops them back bit-exact; no magic gets PERMISSION_DENIED', async () => {
  requirePython(); // before the server: without a peer, nothing is left open
  const server = await GrpcServer.listen({ endWithLastWriter: false });
  const work = mkdtempSync(join(tmpdir(), 'harmonics-grpcio-'));
  const peer = pythonPeer(join(__dirname, 'fixtures/grpcio_peer.py'), [String(server.port), resolve(__dirname, '..'), work]);
  try {
    expect({ line: await peer.line(), stderr: peer.stderr() }).toEqual({ line: 'pushed', stderr: '' });
    const want = expected();
    const got: (Tensor | undefined)[] = [];
    for (let i = 0; i < want.length; i++) got.push(await server.pop());
    want.forEach((t, i) => expectSameTensor(got[i], t));
    for (const t of got) await server.push(t!);
    peer.child.stdin!.write('go\n');
    expect({ line: await peer.line(), code: await peer.exited, stderr: peer.stderr() }).toEqual({ line: `ok ${want.length}`, code: 0, stderr: '' });
  } finally {
    await peer.stop();
    await server.close({ timeoutMs: 0 });
    rmSync(work, { recursive: true, force: true });
  }
}, 60_000);
