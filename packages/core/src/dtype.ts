import { HarmonicsError } from './errors.js';

/** The element types a tensor can hold. Names follow NumPy. */
export type DType =
  'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'int8' | 'int16' | 'uint16' | 'uint32' | 'uint64' | 'float16' | 'bfloat16' | 'bool';

/** The typed array that stores each dtype's elements. */
export interface DTypeArrayMap {
  float32: Float32Array;
  float64: Float64Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
  int8: Int8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  uint32: Uint32Array;
  uint64: BigUint64Array;
  /** IEEE binary16 bits. */
  float16: Uint16Array;
  /** bfloat16 bits (the upper half of a float32). */
  bfloat16: Uint16Array;
  /** One byte per element, 0 or 1. */
  bool: Uint8Array;
}

/** Any typed array a tensor can hold. */
export type TypedArray = DTypeArrayMap[DType];

/** Constructor of a tensor's typed array. */
export interface TypedArrayConstructor<T extends TypedArray = TypedArray> {
  new (length: number): T;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): T;
  readonly BYTES_PER_ELEMENT: number;
}

/** What Harmonics knows about one dtype. */
export interface DTypeInfo {
  readonly name: DType;
  /** The u8 dtype code on the wire (DESIGN §4). */
  readonly code: number;
  /** Bytes per element. */
  readonly size: number;
  /** The typed array that stores it. */
  readonly array: TypedArrayConstructor;
  /** True for codes 0–4, the ones the C++ library reads and writes. */
  readonly cppCompatible: boolean;
}

function info(name: DType, code: number, array: TypedArrayConstructor): DTypeInfo {
  return { name, code, size: array.BYTES_PER_ELEMENT, array, cppCompatible: code <= 4 };
}

const TABLE: readonly DTypeInfo[] = /* @__PURE__ */ (() => [
  info('float32', 0, Float32Array),
  info('float64', 1, Float64Array),
  info('int32', 2, Int32Array),
  info('int64', 3, BigInt64Array),
  info('uint8', 4, Uint8Array),
  info('int8', 5, Int8Array),
  info('int16', 6, Int16Array),
  info('uint16', 7, Uint16Array),
  info('uint32', 8, Uint32Array),
  info('uint64', 9, BigUint64Array),
  info('float16', 10, Uint16Array),
  info('bfloat16', 11, Uint16Array),
  info('bool', 12, Uint8Array),
])();

const BY_NAME: ReadonlyMap<string, DTypeInfo> = /* @__PURE__ */ new Map(TABLE.map((d) => [d.name, d]));

/** Every dtype, in wire-code order. */
export const DTYPES: readonly DType[] = /* @__PURE__ */ TABLE.map((d) => d.name);

/**
 * Facts about a dtype: wire code, element size, typed array.
 * @throws HarmonicsError `ERR_BAD_DTYPE` for a name that is not a dtype.
 */
export function dtypeInfo(dtype: DType): DTypeInfo {
  const d = BY_NAME.get(dtype);
  if (d === undefined) {
    throw new HarmonicsError('ERR_BAD_DTYPE', `unknown dtype ${JSON.stringify(dtype)}; expected one of ${DTYPES.join(', ')}`);
  }
  return d;
}

/**
 * The dtype with the given wire code, or `undefined` when no dtype has it.
 * Costs an array index.
 */
export function dtypeFromCode(code: number): DTypeInfo | undefined {
  return TABLE[code];
}

/** True when `name` is one of the 13 dtypes. */
export function isDType(name: unknown): name is DType {
  return typeof name === 'string' && BY_NAME.has(name);
}
