import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { errorOf, expectSameTensor, sampleTensor, seededBytes } from '@harmonics/conformance';
import {
  blobSource,
  bytesSource,
  encodeSafetensors,
  fileSink,
  fileSource,
  httpSource,
  openSafetensors,
  sliceSource,
  memorySink,
  openNpz,
  streamSink,
  writeNpz,
} from '@harmonics/formats';
import { startRangeServer } from './fixtures/range-server';

const data = seededBytes(200_000, 42);

describe('sources give the exact bytes asked for, and ERR_TRUNCATED past the end', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'harmonics-formats-'));
    await writeFile(join(dir, 'data.bin'), data);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const check = async (src: { size: number; read(o: number, l: number): Promise<Uint8Array> }) => {
    expect(src.size).toBe(data.length);
    for (const [o, l] of [
      [0, 10],
      [12_345, 70_000],
      [199_990, 10],
      [5, 0],
    ]) {
      expect(Buffer.from(await src.read(o, l)).equals(Buffer.from(data.subarray(o, o + l)))).toBe(true);
    }
    expect((await errorOf(src.read(199_995, 10)))?.code).toBe('ERR_TRUNCATED');
    expect((await errorOf(src.read(-1, 10)))?.code).toBe('ERR_INVALID_ARGUMENT');
  };

  test('bytesSource', () => check(bytesSource(data)));
  test('blobSource', () => check(blobSource(new Blob([data as Uint8Array<ArrayBuffer>]))));
  test('sliceSource', async () => {
    const s = sliceSource(bytesSource(data), 100, 50);
    expect(Array.from(await s.read(10, 5))).toEqual(Array.from(data.subarray(110, 115)));
    expect((await errorOf(s.read(45, 10)))?.code).toBe('ERR_TRUNCATED');
  });

  test('fileSource over a real file; closing closes the handle', async () => {
    const src = await fileSource(await open(join(dir, 'data.bin')));
    await check(src);
    await src.close!();
    expect((await errorOf(src.read(0, 1)))?.code).toBe('ERR_CLOSED');
  });

  test('httpSource over a real HTTP server with Range support: one request learns the size and the head', async () => {
    const server = await startRangeServer({ 'data.bin': data });
    try {
      const src = await httpSource(`${server.url}/data.bin`, { prefetchBytes: 1024 });
      expect(server.log).toEqual([{ method: 'GET', path: 'data.bin', range: 'bytes=0-1023', status: 206, bytes: 1024 }]);
      await check(src);
      // [0, 10] came from the prefetched head; the other ranges were one request each.
      expect(server.log.slice(1).map((l) => l.range)).toEqual(['bytes=12345-82344', 'bytes=199990-199999']);
      expect(src.stats).toEqual({ requests: 3, bytes: 1024 + 70_000 + 10 });
    } finally {
      await server.close();
    }
  });

  test('httpSource refuses a server that ignores Range, a 404 and a closed port, with what to do', async () => {
    const server = await startRangeServer({ 'data.bin': data }, { ranges: false });
    try {
      const err = await errorOf(httpSource(`${server.url}/data.bin`));
      expect(err?.code).toBe('ERR_PROTOCOL');
      expect(err?.message).toContain('does not support Range');
      expect((await errorOf(httpSource(`${server.url}/missing.bin`)))?.message).toContain('404');
    } finally {
      await server.close();
    }
    expect((await errorOf(httpSource(server.url + '/data.bin')))?.code).toBe('ERR_CONNECT');
  });

  test('httpSource reads a file smaller than its prefetch, and an empty one', async () => {
    const server = await startRangeServer({ 'small.bin': data.subarray(0, 10), 'empty.bin': new Uint8Array(0) });
    try {
      const small = await httpSource(`${server.url}/small.bin`);
      expect(small.size).toBe(10);
      expect(Array.from(await small.read(2, 8))).toEqual(Array.from(data.subarray(2, 10)));
      expect((await httpSource(`${server.url}/empty.bin`)).size).toBe(0);
    } finally {
      await server.close();
    }
  });
});

describe('sinks', () => {
  test('fileSink writes a file that reads back bit-exact', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'harmonics-formats-'));
    try {
      const t = { a: sampleTensor('float32', [64, 64], 1), b: sampleTensor('int64', [10], 2) };
      await writeNpz(fileSink(await open(join(dir, 'x.npz'), 'w')), t, { compress: true });
      const file = await openNpz(await fileSource(await open(join(dir, 'x.npz'))));
      expectSameTensor(await file.read('a'), t.a);
      expectSameTensor(await file.read('b'), t.b);
      await file.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('streamSink writes to a WritableStream', async () => {
    const chunks: Buffer[] = [];
    const writable = new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(Buffer.from(chunk));
        cb();
      },
    });
    const t = sampleTensor('uint16', [100], 3);
    const sink = streamSink(Writable.toWeb(writable) as WritableStream<Uint8Array>);
    const bytes = encodeSafetensors({ t });
    await sink.write(bytes.subarray(0, 7));
    await sink.write(bytes.subarray(7));
    await sink.close();
    const file = await openSafetensors(bytesSource(Buffer.concat(chunks)));
    expectSameTensor(await file.read('t'), t);
    expect((await errorOf(sink.write(bytes)))?.code).toBe('ERR_CLOSED');
  });

  test('a safetensors file written by fileSink reads by fileSource', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'harmonics-formats-'));
    try {
      const t = sampleTensor('bfloat16', [33], 5);
      const h = await open(join(dir, 'x.safetensors'), 'w');
      const sink = fileSink(h);
      await sink.write(encodeSafetensors({ t }));
      await sink.close();
      expect((await readFile(join(dir, 'x.safetensors'))).length).toBeGreaterThan(66);
      const file = await openSafetensors(await fileSource(await open(join(dir, 'x.safetensors'))));
      expectSameTensor(await file.read('t'), t);
      await file.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

test('bytes in a Node Buffer at an odd offset read right: misaligned tensors are copied, not viewed', async () => {
  const t = sampleTensor('float64', [5], 3);
  const npz = memorySink();
  await writeNpz(npz, { t });
  const st = encodeSafetensors({ t, u: sampleTensor('int32', [3], 4) });
  for (const [bytes, read] of [
    [npz.bytes(), async (s: ReturnType<typeof bytesSource>) => (await openNpz(s)).read('t')],
    [st, async (s: ReturnType<typeof bytesSource>) => (await openSafetensors(s)).read('t')],
  ] as const) {
    const pool = Buffer.alloc(bytes.length + 1);
    pool.set(bytes, 1);
    expectSameTensor(await read(bytesSource(pool.subarray(1))), t);
  }
});
