// pyarrow's Arrow Flight (C++ Flight underneath) against ours, both ways:
// a pyarrow client against our TensorFlightServer, and our FlightProducer and
// FlightConsumer against a pyarrow FlightServerBase (fixtures/pyarrow_peer.py).
import { join } from 'node:path';
import { type Tensor, tensor } from '@harmonics/core';
import { type PythonPeer, expectSameTensor, pythonPeer, requirePython } from '@harmonics/conformance';
import { FlightConsumer, FlightProducer, TensorFlightServer } from '@harmonics/transport-flight';
import { readAll } from './read-all';

const PEER = join(__dirname, 'fixtures/pyarrow_peer.py');

/** The peer's f32(): 5 tensors of [3, 4]. */
function f32(): Tensor[] {
  const v = new Float32Array(60).map((_, i) => i * 0.25 - 3);
  v[0] = NaN;
  v[1] = -0;
  v[2] = Infinity;
  return [0, 1, 2, 3, 4].map((k) => tensor('float32', [3, 4], v.slice(k * 12, k * 12 + 12)));
}

/** The peer's i64(): 3 tensors of [2, 2]. */
function i64(): Tensor[] {
  const rows = [
    [-(2n ** 40n), 0n, 2n ** 53n + 1n, -1n],
    [1n, 2n, 3n, 4n],
    [2n ** 62n, -(2n ** 62n), 7n, 9n],
  ];
  return rows.map((r) => tensor('int64', [2, 2], new BigInt64Array(r)));
}

const peer = (args: string[]): PythonPeer => pythonPeer(PEER, args);
const line = (p: PythonPeer): Promise<string | undefined> => p.line();

it('a pyarrow client authenticates, DoPuts FixedShapeTensorArrays, describes them, and DoGets back what Node queued, bit-exact', async () => {
  requirePython(); // before the server: without a peer, nothing is left open
  const server = await TensorFlightServer.listen({
    handshake: ({ username, password }) => (username === 'alice' && password === 'wonderland' ? 'tok-123' : undefined),
    verifyToken: (token) => token === 'tok-123',
  });
  const p = peer(['client', String(server.port)]);
  try {
    expect({ line: await line(p), stderr: p.stderr() }).toEqual({ line: 'put', stderr: '' });
    // What pyarrow put, read here: values and order as built independently above.
    const gotF32 = await readAll(new FlightProducer(server, { stream: 'py-f32' }));
    const gotI64 = await readAll(new FlightProducer(server, { stream: 'py-i64' }));
    expect(gotF32.length).toBe(5);
    f32().forEach((t, i) => expectSameTensor(gotF32[i], t));
    expect(gotI64.length).toBe(3);
    i64().forEach((t, i) => expectSameTensor(gotI64[i], t));
    // Queue them again for pyarrow to DoGet.
    for (const [name, tensors] of [
      ['back-f32', gotF32],
      ['back-i64', gotI64],
    ] as const) {
      server.createStream(name);
      for (const t of tensors) await server.putTensor(t, { stream: name });
      server.endStream(name);
    }
    p.child.stdin!.write('go\n');
    expect({ line: await line(p), code: await p.exited, stderr: p.stderr() }).toEqual({ line: 'ok', code: 0, stderr: '' });
  } finally {
    await p.stop();
    await server.close({ timeoutMs: 0 });
  }
}, 60_000);

describe('against a pyarrow FlightServerBase', () => {
  let p: PythonPeer;
  let port: number;

  beforeAll(async () => {
    p = peer(['server']);
    const first = await line(p);
    expect({ first, stderr: p.stderr() }).toEqual({ first: expect.stringMatching(/^port \d+$/), stderr: '' });
    port = Number(first!.split(' ')[1]);
  }, 30_000);

  afterAll(() => p.stop());

  it('FlightProducer reads float32 and int64 tensor columns bit-exact, then ends', async () => {
    const a = await readAll(new FlightProducer('127.0.0.1', port, { stream: 'py-f32' }));
    expect(a.length).toBe(5);
    f32().forEach((t, i) => expectSameTensor(a[i], t));
    const b = await readAll(new FlightProducer('127.0.0.1', port, { ticket: 'py-i64' }));
    expect(b.length).toBe(3);
    i64().forEach((t, i) => expectSameTensor(b[i], t));
  });

  it('applies a permutation (logical dim i is physical dim permutation[i]) and finds the tensor column among others', async () => {
    const perm = await readAll(new FlightProducer('127.0.0.1', port, { stream: 'py-perm' }));
    expect(perm.length).toBe(2);
    // physical [2,3] rows 0..5 and 10..15 with permutation [1,0]: the logical [3,2] transpose
    expectSameTensor(perm[0], tensor('int32', [3, 2], [0, 3, 1, 4, 2, 5]));
    expectSameTensor(perm[1], tensor('int32', [3, 2], [10, 13, 11, 14, 12, 15]));
    const multi = await readAll(new FlightProducer('127.0.0.1', port, { stream: 'py-multi' }));
    expect(multi.length).toBe(3);
    i64().forEach((t, i) => expectSameTensor(multi[i], t));
  });

  it('FlightConsumer DoPuts float32 then int64 (a new DoPut per schema) and pyarrow reads them with to_numpy_ndarray', async () => {
    const consumer = new FlightConsumer('127.0.0.1', port, { stream: 'node-mixed' });
    for (const t of f32()) await consumer.push(t);
    for (const t of i64()) await consumer.push(t);
    await consumer.close(); // the DoAction that ends our writers is unknown to pyarrow: ignored
    expect(await line(p)).toBe('put node-mixed float32 [5, 3, 4] ok');
    expect(await line(p)).toBe('put node-mixed int64 [3, 2, 2] ok');

    const batched = new FlightConsumer('127.0.0.1', port, { stream: 'node-f32', batchRows: 2 });
    for (const t of f32()) await batched.push(t);
    await batched.close();
    expect(await line(p)).toBe('put node-f32 float32 [5, 3, 4] ok');
    // and back through pyarrow's DoGet
    const back = await readAll(new FlightProducer('127.0.0.1', port, { stream: 'node-f32' }));
    f32().forEach((t, i) => expectSameTensor(back[i], t));
    expect(back.length).toBe(5);
  });
});
