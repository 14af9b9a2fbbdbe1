import {
  DTYPES,
  type DType,
  type Tensor,
  decodeTensor,
  encodeTensor,
  encodeTensorInto,
  encodeTensorParts,
  encodedByteLength,
  tensor,
} from '@harmonics/core';
import { codeOfSync, everyDtypeSamples, expectSameTensor, sampleTensor } from '@harmonics/conformance';
import { decodeTensorInPlace } from '../src/internal';

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

describe('encodeTensor / decodeTensor', () => {
  it('writes the C++ record layout, little-endian (hex fixture)', () => {
    const t = tensor('int32', [2, 1], [1, -2]);
    expect(hex(encodeTensor(t))).toBe('02' + '02000000' + '02000000' + '01000000' + '08000000' + '01000000' + 'feffffff');
    expect(hex(encodeTensor(t, { lengthPrefix: true }).subarray(0, 4))).toBe('19000000');
    expect(encodedByteLength(t)).toBe(25);
  });

  it.each(DTYPES)('round-trips %s bit-exactly, special values included', (dtype) => {
    const t = sampleTensor(dtype, [7, 3], 11);
    const back = decodeTensor(encodeTensor(t));
    expectSameTensor(back, t);
  });

  it('uses the wire codes of DESIGN §4 for every dtype', () => {
    const codes = everyDtypeSamples().map((t) => encodeTensor(t)[0]);
    expect(codes).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('decodes an aligned record as a view (no copy) and a misaligned one as a copy', () => {
    const t = tensor('float64', [3], [1, 2, 3]);
    const rec = encodeTensor(t); // header is 13 bytes: data at 13, misaligned in rec
    const aligned = new Uint8Array(new ArrayBuffer(rec.length + 3), 3, rec.length); // 3 + 13 = 16
    aligned.set(rec);
    const view = decodeTensor(aligned);
    expect(view.data.buffer).toBe(aligned.buffer);
    expect(view.data.byteOffset).toBe(16);
    const copy = decodeTensor(rec);
    expect(copy.data.byteOffset % 8).toBe(0);
    expectSameTensor(view, t);
    expectSameTensor(copy, t);
    rec.fill(0xff); // the copy (from a shared slab, like small records) does not alias the record
    expectSameTensor(copy, t);
  });

  it('honours a non-zero byteOffset of the input view', () => {
    const t = sampleTensor('int16', [10], 4);
    const rec = encodeTensor(t);
    const big = new Uint8Array(rec.length + 101);
    big.set(rec, 57);
    expectSameTensor(decodeTensor(big.subarray(57, 57 + rec.length)), t);
  });

  it('encodeTensorParts gives a header and a view of the data (no copy)', () => {
    const t = sampleTensor('float32', [5], 2);
    const [header, data] = encodeTensorParts(t, { lengthPrefix: true });
    expect(data.buffer).toBe(t.data.buffer);
    const joined = new Uint8Array(header.length + data.length);
    joined.set(header);
    joined.set(data, header.length);
    expect(hex(joined)).toBe(hex(encodeTensor(t, { lengthPrefix: true })));
  });

  it('encodeTensorInto writes at an offset and refuses when there is no room', () => {
    const t = tensor('uint8', [3], [1, 2, 3]);
    const out = new Uint8Array(64);
    const end = encodeTensorInto(t, out, 10);
    expect(end).toBe(10 + encodedByteLength(t));
    expect(hex(out.subarray(10, end))).toBe(hex(encodeTensor(t)));
    expect(codeOfSync(() => encodeTensorInto(t, new Uint8Array(5)))).toBe('ERR_TOO_LARGE');
  });

  it('rejects a cut record at every offset with ERR_TRUNCATED', () => {
    const rec = encodeTensor(tensor('float32', [2, 2], [1, 2, 3, 4]));
    for (let cut = 0; cut < rec.length; cut++) {
      expect([cut, codeOfSync(() => decodeTensor(rec.subarray(0, cut)))]).toEqual([cut, 'ERR_TRUNCATED']);
    }
  });

  it('rejects trailing bytes with ERR_PROTOCOL', () => {
    const rec = encodeTensor(tensor('uint8', [1], [9]));
    const longer = new Uint8Array(rec.length + 1);
    longer.set(rec);
    expect(codeOfSync(() => decodeTensor(longer))).toBe('ERR_PROTOCOL');
  });

  it('rejects malformed headers with typed errors, before allocating anything', () => {
    const before = process.memoryUsage().arrayBuffers;
    // unknown dtype code 13
    expect(codeOfSync(() => decodeTensor(Uint8Array.from([13, 0, 0, 0, 0, 0, 0, 0, 0])))).toBe('ERR_BAD_DTYPE');
    // ndim 33
    expect(codeOfSync(() => decodeTensor(Uint8Array.from([0, 33, 0, 0, 0])))).toBe('ERR_BAD_SHAPE');
    // byteLength disagrees with the shape: float32 [2] declaring 7 bytes
    const bad = Uint8Array.from([0, 1, 0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7]);
    expect(codeOfSync(() => decodeTensor(bad))).toBe('ERR_BAD_SHAPE');
    // dims whose product overflows 2^53: [2^32-1]^2 x 2^32-1
    const huge = new Uint8Array(9 + 12);
    huge.set([3, 3, 0, 0, 0]);
    huge.fill(0xff, 5, 17);
    expect(codeOfSync(() => decodeTensor(huge))).toBe('ERR_BAD_SHAPE');
    // a 200 MiB record declared but absent: truncated, and never allocated
    const declared = Uint8Array.from([4, 1, 0, 0, 0, 0, 0, 0, 0x0c, 0, 0, 0, 0x0c]);
    expect(codeOfSync(() => decodeTensor(declared))).toBe('ERR_TRUNCATED');
    // over the limit
    expect(codeOfSync(() => decodeTensor(declared, { maxMessageBytes: 1024 }))).toBe('ERR_TOO_LARGE');
    // a bool byte other than 0/1
    expect(codeOfSync(() => decodeTensor(Uint8Array.from([12, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2])))).toBe('ERR_BAD_DTYPE');
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });

  it('refuses to encode what the wire cannot carry', () => {
    const wrong = { dtype: 'float32', shape: [3], data: new Float32Array(2) } as Tensor;
    expect(codeOfSync(() => encodeTensor(wrong))).toBe('ERR_BAD_SHAPE');
    const tooBigDim = { dtype: 'uint8', shape: [2 ** 32, 0], data: new Uint8Array(0) } as Tensor;
    expect(codeOfSync(() => encodeTensor(tooBigDim))).toBe('ERR_BAD_SHAPE');
    const unknown = { dtype: 'complex64', shape: [1], data: new Float32Array(2) } as unknown as Tensor;
    expect(codeOfSync(() => encodeTensor(unknown))).toBe('ERR_BAD_DTYPE');
  });
});

describe('decodeTensorInPlace', () => {
  it('moves misaligned data back over the header: a view of the same memory, aligned, bit-exact, at every offset', () => {
    for (const dtype of ['float64', 'int64', 'float32', 'int16', 'uint8'] as DType[]) {
      for (let shift = 0; shift < 8; shift++) {
        for (const shape of [[], [3], [2, 5]]) {
          const t = tensor(dtype, shape);
          const view = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
          view.forEach((_, i) => (view[i] = (i * 37 + shift) & 0xff));
          const record = encodeTensor(t);
          const memory = new Uint8Array(record.length + 16);
          memory.set(record, shift);
          const got = decodeTensorInPlace(memory.subarray(shift, shift + record.length), 1 << 20);
          expect(got.data.buffer).toBe(memory.buffer);
          expect(got.data.byteOffset % got.data.BYTES_PER_ELEMENT).toBe(0);
          expectSameTensor(got, t);
        }
      }
    }
  });

  it("anything but exactly one valid record gets decodeTensor's error", () => {
    const record = encodeTensor(tensor('float32', [4]));
    expect(() => decodeTensorInPlace(record.slice(0, 10), 1 << 20)).toThrow(expect.objectContaining({ code: 'ERR_TRUNCATED' }));
    expect(() => decodeTensorInPlace(new Uint8Array([...record, 0]), 1 << 20)).toThrow(expect.objectContaining({ code: 'ERR_PROTOCOL' }));
    expect(() => decodeTensorInPlace(record.slice(), 8)).toThrow(expect.objectContaining({ code: 'ERR_TOO_LARGE' }));
  });
});

describe('bool values on encode', () => {
  it('a bool element other than 0/1 is ERR_BAD_DTYPE in every encoder, before anything is written (receivers refuse it too)', () => {
    const bad = { dtype: 'bool', shape: [3], data: Uint8Array.of(0, 1, 2) } as Tensor;
    expect(codeOfSync(() => encodeTensor(bad))).toBe('ERR_BAD_DTYPE');
    expect(codeOfSync(() => encodeTensorParts(bad))).toBe('ERR_BAD_DTYPE');
    const out = new Uint8Array(64);
    expect(codeOfSync(() => encodeTensorInto(bad, out))).toBe('ERR_BAD_DTYPE');
    expect(out.every((b) => b === 0)).toBe(true);
    expect(Array.from(decodeTensor(encodeTensor(tensor('bool', [3], [1, 0, 1]))).data as Uint8Array)).toEqual([1, 0, 1]);
  });
});
