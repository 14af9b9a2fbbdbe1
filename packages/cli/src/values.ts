// Tensor elements as numbers, per-tensor statistics, and numpy-style printing.
import type { Tensor } from '@harmonics/core';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits to a number. */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** bfloat16 bits to a number. */
export function bfloat16ToNumber(b: number): number {
  u32[0] = b << 16;
  return f32[0];
}

/** Element i of t as a number (int64/uint64 rounded to the nearest double). */
export function elementAt(t: Tensor): (i: number) => number {
  const d = t.data as ArrayLike<number | bigint>;
  switch (t.dtype) {
    case 'float16':
      return (i) => halfToNumber(d[i] as number);
    case 'bfloat16':
      return (i) => bfloat16ToNumber(d[i] as number);
    case 'int64':
    case 'uint64':
      return (i) => Number(d[i]);
    default:
      return (i) => d[i] as number;
  }
}

/** Summary statistics of one tensor. */
export interface TensorStats {
  min: number | null;
  max: number | null;
  mean: number | null;
  nan: number;
}

/** min, max and mean over the non-NaN elements, and how many are NaN (`null`s for an empty tensor or all NaN). */
export function statsOf(t: Tensor): TensorStats {
  const n = t.data.length;
  const at = elementAt(t);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let nan = 0;
  for (let i = 0; i < n; i++) {
    const v = at(i);
    if (Number.isNaN(v)) {
      nan++;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const counted = n - nan;
  return counted === 0 ? { min: null, max: null, mean: null, nan } : { min, max, mean: sum / counted, nan };
}

/** A number as numpy prints it, short: integers exactly, floats to 6 significant digits. */
export function formatValue(v: number, dtype: string): string {
  if (dtype === 'bool') return v ? 'True' : 'False';
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (!dtype.startsWith('float') && dtype !== 'bfloat16') return String(v);
  if (Object.is(v, -0)) return '-0.';
  const s = String(Number(v.toPrecision(6)));
  return /[.e]/.test(s) ? s : `${s}.`;
}

function formatBigint(t: Tensor, i: number): string {
  return String((t.data as BigInt64Array | BigUint64Array)[i]);
}

/**
 * The values of a tensor, nested as numpy prints them. Past `threshold`
 * elements, each dimension shows its first and last `edge` entries around `...`.
 */
export function formatTensor(t: Tensor, options: { threshold?: number; edge?: number } = {}): string {
  const threshold = options.threshold ?? 1000;
  const edge = options.edge ?? 3;
  const n = t.data.length;
  const summarize = n > threshold;
  const at = elementAt(t);
  const one = (i: number) => (t.dtype === 'int64' || t.dtype === 'uint64' ? formatBigint(t, i) : formatValue(at(i), t.dtype));
  if (t.shape.length === 0) return one(0);
  const strides: number[] = [];
  for (let k = t.shape.length - 1, s = 1; k >= 0; k--) {
    strides[k] = s;
    s *= t.shape[k];
  }
  const walk = (dim: number, base: number, indent: string): string => {
    const len = t.shape[dim];
    const idx: (number | undefined)[] = [];
    if (summarize && len > 2 * edge) {
      for (let i = 0; i < edge; i++) idx.push(i);
      idx.push(undefined);
      for (let i = len - edge; i < len; i++) idx.push(i);
    } else for (let i = 0; i < len; i++) idx.push(i);
    if (dim === t.shape.length - 1) return `[${idx.map((i) => (i === undefined ? '...' : one(base + i))).join(', ')}]`;
    const inner = idx.map((i) => (i === undefined ? '...' : walk(dim + 1, base + i * strides[dim], indent + ' ')));
    const sep = ',' + '\n'.repeat(t.shape.length - 1 - dim) + indent + ' ';
    return `[${inner.join(sep)}]`;
  };
  return walk(0, 0, '');
}

/** Bytes as a short human figure: 512 B, 4.0 KiB, 1.5 MiB, 2.00 GiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** Parse a size such as 4MiB, 1KiB, 512, 2MB. */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB|k|K|M|G)?$/.exec(s.trim());
  if (m === null) throw new Error(`"${s}" is not a size; try 1KiB, 4MiB or 1048576`);
  const mult: Record<string, number> = {
    B: 1,
    KiB: 1024,
    MiB: 1024 ** 2,
    GiB: 1024 ** 3,
    KB: 1e3,
    MB: 1e6,
    GB: 1e9,
    k: 1024,
    K: 1024,
    M: 1024 ** 2,
    G: 1024 ** 3,
  };
  return Math.round(Number(m[1]) * mult[m[2] ?? 'B']);
}
