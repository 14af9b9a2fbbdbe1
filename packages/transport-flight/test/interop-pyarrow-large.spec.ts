// pyarrow's Arrow Flight with a 4 MiB tensor, a 64 MiB tensor and 2048 tensors
// in one record batch, both ways (fixtures/pyarrow_large.py): pyarrow DoPut
// and DoGet against our TensorFlightServer, and our FlightConsumer and
// FlightProducer against a pyarrow FlightServerBase. npm test runs this with
// the fast paths on (source and dist passes: direct writes, 16 MiB server
// windows, Buffer-like messages) and off.
import { join } from 'node:path';
import { type Tensor, tensor } from '@harmonics/core';
import { type PythonPeer, bitPatternTensor, expectSameTensor, pythonPeer, requirePython } from '@harmonics/conformance';
import { FlightConsumer, FlightProducer, TensorFlightServer } from '@harmonics/transport-flight';
import { readAll } from './read-all';

/** pyarrow_large.py's SETS, built here independently: each row of its (rows, ...shape) array is one tensor. */
const SETS: Record<string, () => Tensor[]> = {
  big4: () => [bitPatternTensor([1024, 1024], 0x9e3779b1)],
  big64: () => [bitPatternTensor([4096, 4096], 0x85ebca77)],
  rows: () => {
    const all = bitPatternTensor([2048, 16, 32], 0xc2b2ae35).data as Float32Array;
    return Array.from({ length: 2048 }, (_, k) => tensor('float32', [16, 32], all.subarray(k * 512, (k + 1) * 512)));
  },
};

function expectSameTensors(got: Tensor[], want: Tensor[]): void {
  expect(got.length).toBe(want.length);
  want.forEach((t, i) => expectSameTensor(got[i], t));
}

const peer = (args: string[]): PythonPeer => pythonPeer(join(__dirname, 'fixtures/pyarrow_large.py'), args);

it('pyarrow DoPuts a 4 MiB tensor, a 64 MiB tensor and a 2048-row batch to our server, and DoGets them back, bit-exact both ways', async () => {
  requirePython(); // before the server: without a peer, nothing is left open
  const server = await TensorFlightServer.listen();
  const p = peer(['client', String(server.port)]);
  try {
    // Read while pyarrow writes: 64 MiB is over a stream's queue limit, so its DoPut completes only once we read.
    const reads = Object.keys(SETS).map((name) => readAll(new FlightProducer(server, { stream: `py-${name}` })));
    const read = await Promise.all(reads);
    expect({ line: await p.line(), stderr: p.stderr() }).toEqual({ line: 'put', stderr: '' });
    for (const [k, [name, make]] of Object.entries(SETS).entries()) {
      const got = read[k];
      expectSameTensors(got, make());
      server.createStream(`back-${name}`);
      for (const t of got) await server.putTensor(t, { stream: `back-${name}` });
      server.endStream(`back-${name}`);
    }
    p.child.stdin!.write('go\n');
    expect({ line: await p.line(), code: await p.exited, stderr: p.stderr() }).toEqual({ line: 'ok', code: 0, stderr: '' });
  } finally {
    await p.stop();
    await server.close({ timeoutMs: 0 });
  }
}, 120_000);

describe('against a pyarrow FlightServerBase', () => {
  let p: PythonPeer;
  let port: number;

  beforeAll(async () => {
    p = peer(['server']);
    const first = await p.line();
    expect({ first, stderr: p.stderr() }).toEqual({ first: expect.stringMatching(/^port \d+$/), stderr: '' });
    port = Number(first!.split(' ')[1]);
  }, 30_000);

  afterAll(() => p.stop());

  it("FlightProducer DoGets pyarrow's 4 MiB and 64 MiB tensors and its 2048-row batch, bit-exact", async () => {
    for (const [name, make] of Object.entries(SETS)) {
      expectSameTensors(await readAll(new FlightProducer('127.0.0.1', port, { stream: `py-${name}` })), make());
    }
  }, 120_000);

  it('FlightConsumer DoPuts them (the rows 1024 to a batch), pyarrow checks them, and they come back through its DoGet', async () => {
    for (const [name, make] of Object.entries(SETS)) {
      const consumer = new FlightConsumer('127.0.0.1', port, { stream: `node-${name}`, batchRows: name === 'rows' ? 1024 : 1 });
      for (const t of make()) await consumer.push(t);
      await consumer.close();
      const rows = make().length;
      const batches = name === 'rows' ? 2 : 1;
      expect({ line: await p.line(), stderr: p.stderr() }).toEqual({ line: `put node-${name} ${rows} rows in ${batches} batches ok`, stderr: '' });
      expectSameTensors(await readAll(new FlightProducer('127.0.0.1', port, { stream: `node-${name}` })), make());
    }
  }, 120_000);
});
