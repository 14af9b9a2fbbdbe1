// A 1 GiB safetensors file on disk: reading one named tensor reads only its
// bytes (and the header), and iterating all of them keeps memory flat.
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Tensor, tensor } from '@harmonics/core';
import { type RandomAccessSource, SafetensorsConsumer, fileSink, fileSource, openSafetensors } from '@harmonics/formats';

const TENSORS = 256;
const DIM = 1024; // 256 float32 tensors of 1024×1024: 4 MiB each, 1 GiB in all
const MiB = 1024 * 1024;

/** Element j has the bits j * 2654435761 (mod 2^32): a different bit pattern in every element. */
const BASE = /* @__PURE__ */ (() => {
  const bits = new Uint32Array(DIM * DIM);
  for (let j = 0; j < bits.length; j++) bits[j] = Math.imul(j, 0x9e3779b1) >>> 0;
  return bits;
})();

/** The element bits tensor i holds at j: the base pattern, with i in the first and last elements. */
function expectedBits(i: number, j: number): number {
  return j === 0 ? i : j === DIM * DIM - 1 ? (BASE[j] ^ i) >>> 0 : BASE[j];
}

function layer(i: number): Tensor {
  const bits = BASE.slice();
  bits[0] = expectedBits(i, 0);
  bits[DIM * DIM - 1] = expectedBits(i, DIM * DIM - 1);
  return tensor('float32', [DIM, DIM], new Float32Array(bits.buffer));
}

function bitsAt(t: Tensor, j: number): number {
  return new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length)[j];
}

/** Counts the bytes and reads a source serves. */
function counting(inner: RandomAccessSource): RandomAccessSource & { bytes: number; reads: number } {
  return {
    size: inner.size,
    bytes: 0,
    reads: 0,
    read(offset, length, options) {
      this.bytes += length;
      this.reads++;
      return inner.read(offset, length, options);
    },
    close: () => inner.close!(),
  };
}

describe('a 1 GiB safetensors file', () => {
  let dir: string;
  let path: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'harmonics-1gib-'));
    path = join(dir, 'model.safetensors');
    const entries = Array.from({ length: TENSORS }, (_, i) => ({ name: `layers.${i}.weight`, dtype: 'float32' as const, shape: [DIM, DIM] }));
    const writer = new SafetensorsConsumer(fileSink(await open(path, 'w')), entries, { metadata: { format: 'pt' } });
    for (let i = 0; i < TENSORS; i++) await writer.push(layer(i));
    await writer.close();
    expect((await stat(path)).size).toBeGreaterThan(1024 * MiB);
  }, 120_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('reading one named tensor reads only the header and that tensor’s bytes', async () => {
    const src = counting(await fileSource(await open(path)));
    const file = await openSafetensors(src);
    const headerBytes = src.bytes;
    const t = await file.read('layers.137.weight');
    const dataBytes = src.bytes - headerBytes;
    await file.close();
    console.log(
      `1 GiB safetensors (${src.size} bytes), one named tensor: read ${src.bytes} bytes in ${src.reads} reads (header ${headerBytes}, tensor ${dataBytes})`,
    );
    expect(dataBytes).toBe(4 * MiB);
    expect(headerBytes).toBe(file.entries[0].offset); // the 8-byte length and the JSON, nothing more
    expect(src.reads).toBe(3);
    const at = [0, 1, 12345, DIM * DIM - 1];
    expect(at.map((j) => bitsAt(t, j))).toEqual(at.map((j) => expectedBits(137, j)));
    expect(Buffer.from(t.data.buffer, t.data.byteOffset + 4, 4 * MiB - 8).equals(Buffer.from(BASE.buffer, 4, 4 * MiB - 8))).toBe(true);
  }, 60_000);

  test('iterating every tensor keeps memory flat: RSS rises at most 64 MiB', async () => {
    const file = await openSafetensors(await fileSource(await open(path)));
    const before = process.memoryUsage().rss;
    let peak = before;
    let n = 0;
    const p = file.producer();
    for (let t = await p.next(); t !== undefined; t = await p.next()) {
      // Check each tensor as it comes: its name's index is in every element.
      const i = Number(/layers\.(\d+)\.weight/.exec(p.name!)![1]);
      expect(i).toBe(n);
      expect([bitsAt(t, 0), bitsAt(t, DIM * DIM - 1)]).toEqual([expectedBits(i, 0), expectedBits(i, DIM * DIM - 1)]);
      n++;
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    await file.close();
    const rise = (peak - before) / MiB;
    console.log(
      `1 GiB safetensors, all ${n} tensors iterated: RSS ${(before / MiB).toFixed(0)} MiB before, peak ${(peak / MiB).toFixed(0)} MiB, rise ${rise.toFixed(1)} MiB`,
    );
    expect(n).toBe(TENSORS);
    expect(rise).toBeLessThanOrEqual(64);
  }, 120_000);
});
