import { type DType, type TypedArray, isDType } from './dtype.js';
import { HarmonicsError } from './errors.js';
import { type Tensor, tensor } from './tensor.js';

/**
 * An onnxruntime-style tensor (`onnxruntime-node`, `onnxruntime-web`), typed
 * structurally so core does not import onnxruntime.
 */
export interface OrtTensorLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

/**
 * Wrap an onnxruntime tensor as a Harmonics tensor without copying: the result
 * views the same typed array. onnxruntime's type names are ours for the dtypes
 * both have (`float16` data as `Uint16Array` bits or `Float16Array`).
 * @throws HarmonicsError `ERR_BAD_DTYPE` for types Harmonics has no dtype for (`string`, `int4`, …).
 */
export function fromOrt(t: OrtTensorLike): Tensor {
  if (!isDType(t.type)) {
    throw new HarmonicsError('ERR_BAD_DTYPE', `onnxruntime type ${JSON.stringify(t.type)} has no Harmonics dtype`);
  }
  return tensor(t.type, t.dims, t.data as TypedArray);
}

/**
 * The `{ type, dims, data }` triple onnxruntime's `new Tensor(type, data, dims)`
 * takes, viewing the same memory (no copy).
 * @throws HarmonicsError `ERR_BAD_DTYPE` for `bfloat16`, which onnxruntime's JS API lacks.
 */
export function toOrt(t: Tensor): { type: DType; dims: number[]; data: TypedArray } {
  if (t.dtype === 'bfloat16') {
    throw new HarmonicsError('ERR_BAD_DTYPE', 'onnxruntime-web/node tensors have no bfloat16; convert to float32 first');
  }
  return { type: t.dtype, dims: [...t.shape], data: t.data };
}

/**
 * A TensorFlow.js-style tensor: `dtype` and `shape`, with its values from
 * `dataSync()` (a `tf.Tensor`) or `values`. Typed structurally.
 */
export type TfjsTensorLike =
  | { readonly dtype: string; readonly shape: readonly number[]; dataSync(): unknown }
  | { readonly dtype: string; readonly shape: readonly number[]; readonly values: unknown };

const TFJS_DTYPES: ReadonlySet<string> = /* @__PURE__ */ new Set(['float32', 'int32', 'bool']);

/**
 * Wrap a TensorFlow.js-style tensor. Zero-copy over the array it hands out;
 * note that `tf.Tensor#dataSync()` itself may download or copy (GPU backends).
 * @throws HarmonicsError `ERR_BAD_DTYPE` for `string` and `complex64`.
 */
export function fromTfjs(t: TfjsTensorLike): Tensor {
  if (!TFJS_DTYPES.has(t.dtype)) {
    throw new HarmonicsError('ERR_BAD_DTYPE', `TensorFlow.js dtype ${JSON.stringify(t.dtype)} has no Harmonics dtype`);
  }
  const values = 'dataSync' in t ? t.dataSync() : t.values;
  return tensor(t.dtype as DType, t.shape, values as TypedArray);
}

/**
 * `{ values, shape, dtype }` for `tf.tensor(values, shape, dtype)`, viewing the
 * same memory (TensorFlow.js may copy on upload).
 * @throws HarmonicsError `ERR_BAD_DTYPE` for dtypes TensorFlow.js lacks (it has float32, int32 and bool).
 */
export function toTfjs(t: Tensor): { values: TypedArray; shape: number[]; dtype: 'float32' | 'int32' | 'bool' } {
  if (!TFJS_DTYPES.has(t.dtype)) {
    throw new HarmonicsError('ERR_BAD_DTYPE', `TensorFlow.js has no ${t.dtype}; it supports float32, int32 and bool (cast first)`);
  }
  return { values: t.data, shape: [...t.shape], dtype: t.dtype as 'float32' | 'int32' | 'bool' };
}
