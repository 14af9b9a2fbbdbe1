import { readFileSync, writeFileSync } from 'node:fs';
import { encodeTensor, tensor, type Tensor } from '@harmonics/core';
import { expectSameTensor, expectedGoldenTensors, goldenDir, goldenFile } from '@harmonics/conformance';
import { FileConsumer, FileProducer } from '@harmonics/transport-file';
import { join } from 'node:path';
import { errorOf, tempDir } from './helpers';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

async function readAll(p: FileProducer): Promise<Tensor[]> {
  const out: Tensor[] = [];
  for (let t = await p.next(); t !== undefined; t = await p.next()) out.push(t);
  return out;
}

describe('FileProducer', () => {
  it('reads the golden tensors.bin in order, knowing its size by the first next()', async () => {
    const p = new FileProducer(join(goldenDir(), 'tensors.bin'));
    expect(p.size).toBeUndefined();
    const first = await p.next();
    expect(p.size).toBe(10);
    const rest = await readAll(p);
    const expected = expectedGoldenTensors();
    [first!, ...rest].forEach((t, i) => expectSameTensor(t, expected[i]));
    expect(rest).toHaveLength(9);
    expect(await p.next()).toBeUndefined();
    await p.close();
  });

  it('returns aligned data (views of their own buffers) for every dtype', async () => {
    const p = new FileProducer(join(goldenDir(), 'tensors.bin'));
    for (const t of await readAll(p)) expect(t.data.byteOffset % t.data.BYTES_PER_ELEMENT).toBe(0);
    await p.close();
  });

  it('a file cut at any offset gives the complete records, then ERR_TRUNCATED naming the offset', async () => {
    const bytes = goldenFile('tensors.bin');
    const expected = expectedGoldenTensors();
    const starts = [0];
    for (const t of expected) starts.push(starts[starts.length - 1] + encodeTensor(t).length);
    const cuts = [1, 5, 9, 12, 13, 20, 40, 57, 58, 100, 150, 200, 300, 320, 340, 65_000, 100_000, starts[9] + 13, bytes.length - 1];
    for (const s of starts.slice(1, -1)) cuts.push(s - 1, s + 1);
    const path = tmp.file('cut.bin');
    for (const cut of cuts) {
      writeFileSync(path, bytes.subarray(0, cut));
      const p = new FileProducer(path);
      const complete = starts.filter((s, i) => i > 0 && s <= cut).length;
      const got: Tensor[] = [];
      let err;
      for (;;) {
        try {
          const t = await p.next();
          if (t === undefined) break;
          got.push(t);
        } catch (e) {
          err = e as { code: string; message: string };
          break;
        }
      }
      expect([cut, got.length, p.size]).toEqual([cut, complete, complete]);
      got.forEach((t, i) => expectSameTensor(t, expected[i]));
      if (starts.includes(cut)) {
        expect([cut, err]).toEqual([cut, undefined]); // a cut at a record boundary is a clean end
      } else {
        expect([cut, err?.code]).toEqual([cut, 'ERR_TRUNCATED']);
        expect(err?.message).toContain(`byte ${starts[complete]}`);
        expect((await errorOf(p.next()))?.code).toBe('ERR_TRUNCATED'); // never a silent end
      }
      await p.close();
    }
  });

  it('loop: true cycles through the records like the C++ dataset loader', async () => {
    const path = tmp.file('loop.bin');
    const c = new FileConsumer(path);
    for (let i = 0; i < 3; i++) await c.push(tensor('int32', [1], [i]));
    await c.close();
    const p = new FileProducer(path, { loop: true });
    const seen = [];
    for (let i = 0; i < 8; i++) seen.push((await p.next())!.data[0]);
    expect(seen).toEqual([0, 1, 2, 0, 1, 2, 0, 1]);
    expect(p.size).toBe(3);
    await p.close();
    const empty = tmp.file('empty.bin');
    writeFileSync(empty, new Uint8Array(0));
    const e = new FileProducer(empty, { loop: true });
    expect(await e.next()).toBeUndefined(); // nothing to cycle: ends instead of spinning
    expect(e.size).toBe(0);
    await e.close();
  });

  it('a missing file rejects ERR_CONNECT naming the path', async () => {
    const p = new FileProducer(tmp.file('nope.bin'));
    const err = await errorOf(p.next());
    expect(err?.code).toBe('ERR_CONNECT');
    expect(err?.message).toContain('nope.bin');
    await p.close();
  });

  it('a corrupt record gives the records before it, then its typed error; over the limit is ERR_TOO_LARGE', async () => {
    const good = encodeTensor(tensor('uint8', [2], [1, 2]));
    const bad = Uint8Array.from([99, 0, 0, 0, 0, 0, 0, 0, 0]);
    const path = tmp.file('corrupt.bin');
    writeFileSync(path, Buffer.concat([good, bad]));
    const p = new FileProducer(path);
    expect(Array.from((await p.next())!.data as Uint8Array)).toEqual([1, 2]);
    expect((await errorOf(p.next()))?.code).toBe('ERR_BAD_DTYPE');
    await p.close();
    const big = tmp.file('big.bin');
    writeFileSync(big, encodeTensor(tensor('uint8', [5000])));
    const limited = new FileProducer(big, { maxMessageBytes: 1000 });
    expect((await errorOf(limited.next()))?.code).toBe('ERR_TOO_LARGE');
    await limited.close();
  });

  it('close() is idempotent and next() afterwards rejects ERR_CLOSED', async () => {
    const p = new FileProducer(join(goldenDir(), 'tensors.bin'));
    await p.next();
    await p.close();
    await p.close();
    expect((await errorOf(p.next()))?.code).toBe('ERR_CLOSED');
  });
});

describe('FileConsumer', () => {
  it('writes a file byte-identical to the golden tensors.bin', async () => {
    const path = tmp.file('out.bin');
    const c = new FileConsumer(path);
    for (const t of expectedGoldenTensors()) await c.push(t);
    await c.close();
    const written = readFileSync(path);
    expect(Buffer.compare(written, Buffer.from(goldenFile('tensors.bin')))).toBe(0);
  });

  it('append: true adds to an existing file', async () => {
    const path = tmp.file('append.bin');
    const a = new FileConsumer(path);
    await a.push(tensor('uint8', [1], [1]));
    await a.close();
    const b = new FileConsumer(path, { append: true });
    await b.push(tensor('uint8', [1], [2]));
    await b.close();
    const p = new FileProducer(path);
    expect([(await p.next())?.data[0], (await p.next())?.data[0], await p.next()]).toEqual([1, 2, undefined]);
    await p.close();
  });

  it('an unwritable path rejects ERR_CONNECT; push after close rejects ERR_CLOSED', async () => {
    const c = new FileConsumer(tmp.file('no/such/dir/x.bin'));
    expect((await errorOf(c.push(tensor('uint8', [1]))))?.code).toBe('ERR_CONNECT');
    const ok = new FileConsumer(tmp.file('ok.bin'));
    await ok.close();
    expect((await errorOf(ok.push(tensor('uint8', [1]))))?.code).toBe('ERR_CLOSED');
  });
});
