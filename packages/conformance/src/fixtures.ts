import { DTYPES, type DType, type Tensor, dtypeInfo, tensor, tensorBytes } from '@harmonics/core';

/** Deterministic bytes (xorshift32), so failures reproduce. */
export function seededBytes(n: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

// Bit patterns that lossy paths mangle: NaN payloads, signed zero, infinities, subnormals, extremes.
const SPECIAL_BITS: Partial<Record<DType, readonly (number | bigint)[]>> = {
  float32: [0x7fc00001, 0xffc12345, 0x7f800001, 0x80000000, 0x7f800000, 0xff800000, 0x00000001, 0x7f7fffff],
  float64: [0x7ff8000000000001n, 0xfff0000000000abcn, 0x8000000000000000n, 0x7ff0000000000000n, 0x0000000000000001n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n, -1n, 0n],
  uint64: [2n ** 64n - 1n, 0n, 2n ** 63n],
  int32: [-(2 ** 31), 2 ** 31 - 1, -1],
  uint32: [2 ** 32 - 1, 0],
  int16: [-32768, 32767],
  uint16: [65535, 0],
  int8: [-128, 127],
  uint8: [0, 255],
  float16: [0x7e01, 0xfe00, 0x8000, 0x7c00, 0x0001],
  bfloat16: [0x7fc1, 0xffc0, 0x8000, 0x7f80, 0x0001],
};

/**
 * A tensor of `dtype` and `shape` whose elements start with the dtype's
 * special bit patterns and continue with seeded bytes (bool: 0/1).
 */
export function sampleTensor(dtype: DType, shape: readonly number[], seed = 1): Tensor {
  const t = tensor(dtype, shape);
  const bytes = tensorBytes(t);
  if (dtype === 'bool') {
    const r = seededBytes(bytes.length, seed);
    for (let i = 0; i < bytes.length; i++) bytes[i] = r[i] & 1;
    return t;
  }
  bytes.set(seededBytes(bytes.length, seed));
  const specials = SPECIAL_BITS[dtype] ?? [];
  const n = Math.min(specials.length, t.data.length);
  const size = dtypeInfo(dtype).size;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) {
    const v = specials[i];
    if (size === 8) view.setBigUint64(i * 8, BigInt.asUintN(64, BigInt(v)), true);
    else if (size === 4) view.setUint32(i * 4, Number(v) >>> 0, true);
    else if (size === 2) view.setUint16(i * 2, Number(v) & 0xffff, true);
    else view.setUint8(i, Number(v) & 0xff);
  }
  return t;
}

/** One sample tensor per dtype, each with special values. */
/**
 * A float32 tensor whose element i has the bits (i * mult) mod 2^32: NaNs with
 * payloads, -0, denormals and infinities, which survive only a bit-exact path.
 * The foreign peers' fixtures build the same (numpy: `(arange(n, uint64) * mult) & 0xFFFFFFFF`, viewed as float32).
 */
export function bitPatternTensor(shape: readonly number[], mult: number): Tensor {
  const bits = new Uint32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < bits.length; i++) bits[i] = Math.imul(i, mult) >>> 0;
  return tensor('float32', shape, new Float32Array(bits.buffer));
}

export function everyDtypeSamples(): Tensor[] {
  return DTYPES.map((d, i) => sampleTensor(d, [3, 5], i + 1));
}

/** Describe how `actual` differs from `expected` (dtype, shape, then the first differing byte), or `undefined`. */
export function tensorDifference(actual: Tensor | undefined, expected: Tensor): string | undefined {
  if (actual === undefined) return `expected a ${expected.dtype} tensor, got end of stream`;
  if (actual.dtype !== expected.dtype) return `dtype ${actual.dtype}, expected ${expected.dtype}`;
  if (actual.shape.length !== expected.shape.length || actual.shape.some((d, i) => d !== expected.shape[i])) {
    return `shape [${actual.shape}], expected [${expected.shape}]`;
  }
  if (dtypeInfo(actual.dtype).array.name !== (actual.data as { constructor: { name: string } }).constructor.name) {
    return `data is a ${(actual.data as { constructor: { name: string } }).constructor.name}`;
  }
  const a = tensorBytes(actual);
  const b = tensorBytes(expected);
  if (a.length !== b.length) return `${a.length} data bytes, expected ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return `data byte ${i} is ${a[i]}, expected ${b[i]}`;
  }
  return undefined;
}

/** Jest-friendly bit-exact check: throws with the first difference. */
export function expectSameTensor(actual: Tensor | undefined, expected: Tensor): void {
  const diff = tensorDifference(actual, expected);
  if (diff !== undefined) throw new Error(`tensor mismatch: ${diff}`);
}
