import { DTYPES, type DType, dtypeFromCode, dtypeInfo, elementCount, tensor } from '@harmonics/core';
import { codeOfSync } from '@harmonics/conformance';

describe('tensor()', () => {
  const arrays: Record<DType, string> = {
    float32: 'Float32Array',
    float64: 'Float64Array',
    int32: 'Int32Array',
    int64: 'BigInt64Array',
    uint8: 'Uint8Array',
    int8: 'Int8Array',
    int16: 'Int16Array',
    uint16: 'Uint16Array',
    uint32: 'Uint32Array',
    uint64: 'BigUint64Array',
    float16: 'Uint16Array',
    bfloat16: 'Uint16Array',
    bool: 'Uint8Array',
  };

  it.each(DTYPES)('allocates zeros of the right typed array for %s', (dtype) => {
    const t = tensor(dtype, [2, 3]);
    expect(t.data.constructor.name).toBe(arrays[dtype]);
    expect(t.data.length).toBe(6);
    expect(Array.from(t.data as ArrayLike<number | bigint>).every((v) => v == 0)).toBe(true);
    expect(dtypeFromCode(dtypeInfo(dtype).code)?.name).toBe(dtype);
  });

  it('uses a typed array of the right kind without copying', () => {
    const data = new Float32Array([1, 2, 3, 4]);
    expect(tensor('float32', [2, 2], data).data).toBe(data);
    const buf = Buffer.from([0, 1]);
    expect(tensor('uint8', [2], buf).data).toBe(buf);
  });

  it('copies plain arrays into the dtype, bigint for 64-bit, 0/1 for bool', () => {
    expect(tensor('int64', [2], [1, -2]).data).toEqual(BigInt64Array.from([1n, -2n]));
    expect(Array.from(tensor('bool', [3], [true, false, true]).data)).toEqual([1, 0, 1]);
    expect(tensor('float64', [], [0.25]).data[0]).toBe(0.25);
  });

  it('rejects a typed array of the wrong kind with ERR_BAD_DTYPE', () => {
    expect(codeOfSync(() => tensor('float32', [2], new Float64Array(2)))).toBe('ERR_BAD_DTYPE');
    expect(codeOfSync(() => tensor('int64', [2], new Int32Array(2)))).toBe('ERR_BAD_DTYPE');
    expect(codeOfSync(() => tensor('float16', [2], [1, 2]))).toBe('ERR_BAD_DTYPE');
    expect(codeOfSync(() => tensor('nope' as DType, [2]))).toBe('ERR_BAD_DTYPE');
    expect(codeOfSync(() => tensor('bool', [2], new Uint8Array([1, 2])))).toBe('ERR_BAD_DTYPE');
  });

  it('rejects bad shapes and lengths with ERR_BAD_SHAPE', () => {
    expect(codeOfSync(() => tensor('float32', [3], new Float32Array(2)))).toBe('ERR_BAD_SHAPE');
    expect(codeOfSync(() => tensor('float32', [-1]))).toBe('ERR_BAD_SHAPE');
    expect(codeOfSync(() => tensor('float32', [1.5]))).toBe('ERR_BAD_SHAPE');
    expect(codeOfSync(() => tensor('float32', [NaN]))).toBe('ERR_BAD_SHAPE');
    expect(codeOfSync(() => elementCount(new Array(33).fill(1)))).toBe('ERR_BAD_SHAPE');
    expect(codeOfSync(() => elementCount([2 ** 30, 2 ** 30]))).toBe('ERR_BAD_SHAPE');
  });

  it('copies the shape so later edits of the caller array do not change the tensor', () => {
    const shape = [2, 2];
    const t = tensor('uint8', shape);
    shape[0] = 9;
    expect(t.shape).toEqual([2, 2]);
  });

  it('treats a Float16Array as float16 bits without copying, where the runtime has one', () => {
    const F16 = (globalThis as { Float16Array?: new (n: number) => ArrayBufferView }).Float16Array;
    if (F16 === undefined) {
      // Node 20 has no Float16Array: a look-alike must still be refused, not misread.
      expect(codeOfSync(() => tensor('float16', [2], new Float32Array(2) as never))).toBe('ERR_BAD_DTYPE');
      return;
    }
    const h = new F16(2);
    const t = tensor('float16', [2], h as never);
    expect(t.data.buffer).toBe(h.buffer);
    expect(t.data.constructor.name).toBe('Uint16Array');
  });
});
