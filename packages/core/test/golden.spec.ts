import { FrameDecoder, type Tensor, decodeTensor, encodeTensor } from '@harmonics/core';
import { readU32LE } from '../src/internal';
import { expectSameTensor, expectedGoldenTensors, goldenFile } from '@harmonics/conformance';

/** Split back-to-back records into their byte ranges using the header fields only. */
function recordRanges(bytes: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  let o = 0;
  while (o < bytes.length) {
    const ndim = readU32LE(bytes, o + 1);
    const len = 9 + 4 * ndim + readU32LE(bytes, o + 5 + 4 * ndim);
    out.push([o, o + len]);
    o += len;
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function decodeAll(bytes: Uint8Array, lengthPrefixed: boolean): Tensor[] {
  const d = new FrameDecoder({ lengthPrefixed });
  d.push(bytes);
  const out: Tensor[] = [];
  for (let t = d.read(); t !== undefined; t = d.read()) out.push(t);
  d.end();
  return out;
}

describe('golden files from the C++ library', () => {
  const expected = expectedGoldenTensors();

  it('tensors.bin: decodes the ten records to the documented values', () => {
    const bytes = goldenFile('tensors.bin');
    const ranges = recordRanges(bytes);
    expect(ranges).toHaveLength(10);
    ranges.forEach(([a, b], i) => expectSameTensor(decodeTensor(bytes.subarray(a, b)), expected[i]));
    expect(decodeAll(bytes, false)).toHaveLength(10);
    decodeAll(bytes, false).forEach((t, i) => expectSameTensor(t, expected[i]));
  });

  it('tensors.bin: re-encoding gives byte-identical output', () => {
    const bytes = goldenFile('tensors.bin');
    const again = concat(expected.map((t) => encodeTensor(t)));
    expect(Buffer.compare(Buffer.from(again), Buffer.from(bytes))).toBe(0);
  });

  it('socket-frames.bin: length-prefixed #0, #5, #9 decode and re-encode identically', () => {
    const bytes = goldenFile('socket-frames.bin');
    const got = decodeAll(bytes, true);
    expect(got).toHaveLength(3);
    [0, 5, 9].forEach((k, i) => expectSameTensor(got[i], expected[k]));
    const again = concat([0, 5, 9].map((k) => encodeTensor(expected[k], { lengthPrefix: true })));
    expect(Buffer.compare(Buffer.from(again), Buffer.from(bytes))).toBe(0);
  });

  it.each([1, 7, 65536])('socket-frames.bin fed in %i-byte chunks gives the same three tensors', (size) => {
    const bytes = goldenFile('socket-frames.bin');
    const d = new FrameDecoder();
    const got: Tensor[] = [];
    // 1-byte chunks over the whole 4 MiB would test the JS heap more than the decoder:
    // feed the first two records and the start of the third byte by byte, then the rest in 64 KiB.
    const slowUntil = size === 1 ? 4096 : bytes.length;
    for (let o = 0; o < bytes.length;) {
      const step = o < slowUntil ? size : 65536;
      d.push(bytes.subarray(o, Math.min(o + step, bytes.length)));
      o += step;
      for (let t = d.read(); t !== undefined; t = d.read()) got.push(t);
    }
    d.end();
    expect(got).toHaveLength(3);
    [0, 5, 9].forEach((k, i) => expectSameTensor(got[i], expected[k]));
  });
});
