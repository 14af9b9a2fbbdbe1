import { type DType, type DTypeArrayMap, type TypedArray, dtypeInfo } from './dtype.js';
import { HarmonicsError } from './errors.js';

/** Most dimensions a tensor may have (the wire format's limit). */
export const MAX_NDIM = 32;

/**
 * An n-dimensional typed array: the unit every transport moves.
 *
 * `data` is row-major and little-endian with exactly `prod(shape)` elements;
 * `shape` `[]` is a scalar and a 0 in any dim makes an empty tensor.
 */
export interface Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: DTypeArrayMap[D];
}

/** Plain-array input accepted by {@link tensor} (copied into the dtype's typed array). */
export type TensorValues = ArrayLike<number> | ArrayLike<bigint> | ArrayLike<boolean>;

/**
 * Number of elements of a shape.
 * @throws HarmonicsError `ERR_BAD_SHAPE` for more than {@link MAX_NDIM} dims, a dim that is
 *   negative, fractional or not a number, or a product above 2^53.
 */
export function elementCount(shape: readonly number[]): number {
  if (!Array.isArray(shape)) {
    throw new HarmonicsError('ERR_BAD_SHAPE', `shape must be an array of dims, got ${typeof shape}`);
  }
  if (shape.length > MAX_NDIM) {
    throw new HarmonicsError('ERR_BAD_SHAPE', `shape has ${shape.length} dims; at most ${MAX_NDIM} are supported`);
  }
  let n = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new HarmonicsError('ERR_BAD_SHAPE', `dim ${i} of shape [${shape.join(', ')}] is ${String(d)}; dims must be non-negative integers`);
    }
    n *= d;
  }
  if (n > Number.MAX_SAFE_INTEGER) {
    throw new HarmonicsError('ERR_BAD_SHAPE', `shape [${shape.join(', ')}] has more than 2^53 elements`);
  }
  return n;
}

function isFloat16Array(data: unknown): boolean {
  const F16 = (globalThis as { Float16Array?: new (...args: never[]) => object }).Float16Array;
  return F16 !== undefined && data instanceof F16;
}

function arrayTag(data: unknown): string | undefined {
  return ArrayBuffer.isView(data) && !(data instanceof DataView)
    ? (data as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag]
    : undefined;
}

/**
 * Build a validated tensor.
 *
 * - Without `data`, allocates zeros.
 * - A typed array of the dtype's kind is used as is (no copy; the tensor views
 *   the caller's memory). For `float16`, a `Float16Array` (where the runtime has
 *   one) is reinterpreted as its `Uint16Array` bits, also without a copy.
 * - A plain array of numbers, bigints or booleans is copied into a new typed
 *   array (not for `float16`/`bfloat16`, whose elements are raw bits).
 *
 * @throws HarmonicsError `ERR_BAD_DTYPE` for an unknown dtype, a typed array of the wrong
 *   kind, or a bool element other than 0/1; `ERR_BAD_SHAPE` for a bad shape or a
 *   data length that is not `prod(shape)`.
 */
export function tensor<D extends DType>(dtype: D, shape: readonly number[], data?: DTypeArrayMap[D] | TensorValues): Tensor<D> {
  const info = dtypeInfo(dtype);
  const count = elementCount(shape);
  let array: TypedArray;
  if (data === undefined) {
    array = new info.array(count);
  } else {
    const tag = arrayTag(data);
    if (tag === undefined) {
      array = fromValues(dtype, data as TensorValues);
    } else if (tag === info.array.name) {
      array = data as TypedArray;
    } else if (dtype === 'float16' && isFloat16Array(data)) {
      const view = data as unknown as ArrayBufferView;
      array = new Uint16Array(view.buffer, view.byteOffset, view.byteLength / 2);
    } else {
      throw new HarmonicsError('ERR_BAD_DTYPE', `dtype ${dtype} stores its elements in a ${info.array.name}, but data is a ${tag}`);
    }
  }
  if (array.length !== count) {
    throw new HarmonicsError('ERR_BAD_SHAPE', `shape [${shape.join(', ')}] has ${count} elements but data has ${array.length}`);
  }
  if (dtype === 'bool') checkBool(array as Uint8Array);
  return { dtype, shape: Array.from(shape), data: array as DTypeArrayMap[D] };
}

function fromValues(dtype: DType, values: TensorValues): TypedArray {
  if (values === null || typeof values !== 'object' || typeof values.length !== 'number') {
    throw new HarmonicsError('ERR_BAD_DTYPE', `tensor data must be a typed array or an array of values`);
  }
  if (dtype === 'float16' || dtype === 'bfloat16') {
    throw new HarmonicsError('ERR_BAD_DTYPE', `${dtype} data must be a Uint16Array of raw bits${dtype === 'float16' ? ' (or a Float16Array)' : ''}`);
  }
  const info = dtypeInfo(dtype);
  const out = new info.array(values.length);
  const big = dtype === 'int64' || dtype === 'uint64';
  try {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      (out as unknown as unknown[])[i] = big ? BigInt(v as number | bigint) : typeof v === 'boolean' ? Number(v) : v;
    }
  } catch (cause) {
    throw new HarmonicsError('ERR_BAD_DTYPE', `cannot store the given values as ${dtype}`, { cause });
  }
  return out;
}

/** @throws HarmonicsError `ERR_BAD_DTYPE` unless every byte is 0 or 1. */
export function checkBool(data: Uint8Array): void {
  for (let i = 0; i < data.length; i++) {
    if (data[i] > 1) {
      throw new HarmonicsError('ERR_BAD_DTYPE', `bool element ${i} is ${data[i]}; bool elements must be 0 or 1`);
    }
  }
}

/** The bytes of a tensor's data as a `Uint8Array` view (no copy). */
export function tensorBytes(t: Tensor): Uint8Array {
  const d = t.data;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}
