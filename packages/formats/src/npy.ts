// NumPy's .npy format (numpy.lib.format): "\x93NUMPY", a major and minor
// version, a little-endian header length (u16 in 1.0, u32 in 2.0 and 3.0),
// a Python dict literal {'descr': …, 'fortran_order': …, 'shape': (…)}
// padded with spaces and a newline to a multiple of 64, then the data.
import { type AbortOptions, type DType, type Tensor, HarmonicsError, dtypeInfo, elementCount } from '@harmonics/core';
import { invalidArgument } from '@harmonics/internal';
import { bytesOf, decodeUtf8, encodeUtf8, tensorFromBytes } from './bytes.js';
import type { ByteSink } from './sink.js';
import type { RandomAccessSource } from './source.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Largest .npy header read by default: 1 MiB (NumPy's own default is 10,000 bytes). */
export const DEFAULT_MAX_NPY_HEADER_BYTES = 1 << 20;

/** A parsed .npy header. */
export interface NpyHeader {
  /** Format version: 1, 2 or 3. */
  readonly version: number;
  /** The `descr` as written (`<f4`, `>i8`, `|b1`, `bfloat16`…). */
  readonly descr: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly fortranOrder: boolean;
  readonly littleEndian: boolean;
  /** Where the data starts. */
  readonly dataOffset: number;
  /** Bytes of data (`prod(shape)` × element size). */
  readonly byteLength: number;
}

/** Options of the .npy readers. */
export interface ReadNpyOptions extends AbortOptions {
  /**
   * The dtype of raw 2-byte void data (`|V2`). NumPy writes arrays of
   * `ml_dtypes.bfloat16` that way when they are saved with `np.save`, so the
   * file alone cannot say what they are: pass `'bfloat16'` to read them.
   */
  voidDType?: 'bfloat16' | 'float16';
  /** Refuse headers longer than this (`ERR_TOO_LARGE`). Default {@link DEFAULT_MAX_NPY_HEADER_BYTES}. */
  maxHeaderBytes?: number;
}

const KINDS: Readonly<Record<string, DType>> = {
  f8: 'float64',
  f4: 'float32',
  f2: 'float16',
  i8: 'int64',
  i4: 'int32',
  i2: 'int16',
  i1: 'int8',
  u8: 'uint64',
  u4: 'uint32',
  u2: 'uint16',
  u1: 'uint8',
  b1: 'bool',
};

const DESCR: Readonly<Record<DType, string>> = {
  float64: '<f8',
  float32: '<f4',
  float16: '<f2',
  int64: '<i8',
  int32: '<i4',
  int16: '<i2',
  int8: '|i1',
  uint64: '<u8',
  uint32: '<u4',
  uint16: '<u2',
  uint8: '|u1',
  bool: '|b1',
  // ml_dtypes registers its dtype under this name: np.load reads it once `import ml_dtypes` has run.
  bfloat16: 'bfloat16',
};

/** The dtype of a descr, and whether its bytes are little-endian. */
function parseDescr(descr: unknown, options: ReadNpyOptions): { dtype: DType; littleEndian: boolean } {
  if (typeof descr !== 'string') {
    throw new HarmonicsError('ERR_BAD_DTYPE', `.npy descr ${JSON.stringify(descr)} is a structured dtype; Harmonics reads arrays of one plain dtype`);
  }
  if (descr === 'bfloat16') return { dtype: 'bfloat16', littleEndian: true };
  const m = /^([<>|=]?)([a-zA-Z]\d+)$/.exec(descr);
  const order = m?.[1] ?? '';
  const kind = m?.[2];
  if (kind === 'V2' && options.voidDType !== undefined) return { dtype: options.voidDType, littleEndian: true };
  const dtype = kind === undefined ? undefined : KINDS[kind];
  if (dtype === undefined) {
    const hint =
      kind === 'V2'
        ? `; NumPy writes ml_dtypes' bfloat16 as '|V2' — pass { voidDType: 'bfloat16' } if that is what it holds`
        : `; Harmonics reads ${Object.keys(KINDS).join(', ')} and bfloat16`;
    throw new HarmonicsError('ERR_BAD_DTYPE', `.npy descr ${JSON.stringify(descr)} is not a dtype Harmonics reads${hint}`);
  }
  return { dtype, littleEndian: order !== '>' };
}

/**
 * Parse the header at the start of `bytes` (which must hold all of it).
 * @throws HarmonicsError `ERR_BAD_MAGIC` for a file that is not .npy;
 *   `ERR_PROTOCOL` for an unknown version or a header that does not parse;
 *   `ERR_BAD_DTYPE`; `ERR_BAD_SHAPE`; `ERR_TRUNCATED` when `bytes` ends inside the header.
 */
export function parseNpyHeader(bytes: Uint8Array, options: ReadNpyOptions = {}): NpyHeader {
  const { version, dataOffset } = npyPreamble(bytes, options);
  if (bytes.byteLength < dataOffset) throw new HarmonicsError('ERR_TRUNCATED', `the .npy file ends inside its ${dataOffset}-byte header`);
  const start = version === 1 ? 10 : 12;
  const raw = bytes.subarray(start, dataOffset);
  const text = version === 3 ? decodeUtf8(raw, 'the .npy header') : latin1(raw);
  let dict: Record<string, unknown>;
  try {
    dict = parseLiteral(text) as Record<string, unknown>;
  } catch (cause) {
    throw new HarmonicsError(
      'ERR_PROTOCOL',
      `the .npy header ${JSON.stringify(text.trim().slice(0, 200))} does not parse: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  if (typeof dict !== 'object' || dict === null || Array.isArray(dict) || !('descr' in dict) || !('shape' in dict) || !('fortran_order' in dict)) {
    throw new HarmonicsError('ERR_PROTOCOL', `the .npy header ${JSON.stringify(text.trim())} lacks descr, shape or fortran_order`);
  }
  const { dtype, littleEndian } = parseDescr(dict.descr, options);
  const shape = dict.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new HarmonicsError('ERR_BAD_SHAPE', `the .npy shape ${JSON.stringify(shape)} is not a tuple of non-negative integers`);
  }
  if (typeof dict.fortran_order !== 'boolean') throw new HarmonicsError('ERR_PROTOCOL', `the .npy fortran_order is not True or False`);
  const byteLength = elementCount(shape as number[]) * dtypeInfo(dtype).size;
  return {
    version,
    descr: dict.descr as string,
    dtype,
    shape: shape as number[],
    fortranOrder: dict.fortran_order,
    littleEndian,
    dataOffset,
    byteLength,
  };
}

/** Version and data offset from the first 12 bytes. */
function npyPreamble(bytes: Uint8Array, options: ReadNpyOptions): { version: number; dataOffset: number } {
  if (bytes.byteLength < 10) throw new HarmonicsError('ERR_TRUNCATED', `a .npy file is at least 10 bytes; this one has ${bytes.byteLength}`);
  if (!MAGIC.every((b, i) => bytes[i] === b)) {
    const seen = Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new HarmonicsError('ERR_BAD_MAGIC', `not a .npy file: it does not start with \\x93NUMPY (found ${seen})`);
  }
  const version = bytes[6];
  if (version < 1 || version > 3) {
    throw new HarmonicsError('ERR_PROTOCOL', `.npy format version ${version}.${bytes[7]} is not one Harmonics reads (1.0, 2.0 and 3.0)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (version > 1 && bytes.byteLength < 12) throw new HarmonicsError('ERR_TRUNCATED', `the .npy file ends inside its header length`);
  const len = version === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const max = options.maxHeaderBytes ?? DEFAULT_MAX_NPY_HEADER_BYTES;
  if (len > max) throw new HarmonicsError('ERR_TOO_LARGE', `the .npy header declares ${len} bytes, over maxHeaderBytes (${max})`);
  return { version, dataOffset: (version === 1 ? 10 : 12) + len };
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/** The subset of Python literals a .npy header uses: dicts, tuples, lists, strings, ints, True/False/None. */
function parseLiteral(text: string): unknown {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const fail = (m: string): never => {
    throw new Error(`${m} at character ${i}`);
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const out: Record<string, unknown> = {};
      for (;;) {
        ws();
        if (text[i] === '}') return (i++, out);
        const k = value();
        if (typeof k !== 'string') fail('a dict key that is not a string');
        ws();
        if (text[i++] !== ':') fail('expected ":"');
        out[k as string] = value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== '}') fail('expected "," or "}"');
      }
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      i++;
      const out: unknown[] = [];
      for (;;) {
        ws();
        if (text[i] === close) return (i++, out);
        out.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== close) fail(`expected "," or "${close}"`);
      }
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) fail('an unterminated string');
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    const m = /^(True|False|None|-?\d+L?)/.exec(text.slice(i, i + 32));
    if (m === null) return fail(`unexpected ${JSON.stringify(text.slice(i, i + 10))}`);
    i += m[0].length;
    if (m[0] === 'True') return true;
    if (m[0] === 'False') return false;
    if (m[0] === 'None') return null;
    return Number(m[0].replace('L', ''));
  };
  const v = value();
  ws();
  if (i !== text.length) fail('trailing characters');
  return v;
}

/** Element bytes in C order and little-endian, from .npy data in the file's order and byte order. */
function toCanonical(h: NpyHeader, data: Uint8Array): Uint8Array {
  const size = dtypeInfo(h.dtype).size;
  let out = data;
  if (!h.littleEndian && size > 1) {
    out = new Uint8Array(data.byteLength);
    for (let i = 0; i < data.byteLength; i += size) for (let k = 0; k < size; k++) out[i + k] = data[i + size - 1 - k];
  }
  if (h.fortranOrder && h.shape.length > 1) out = fortranToC(out, h.shape, size);
  return out;
}

/** Reorder column-major elements into row-major ones (the transpose NumPy's `np.load` does for `fortran_order: True`). */
function fortranToC(src: Uint8Array, shape: readonly number[], size: number): Uint8Array {
  const n = shape.length;
  const count = elementCount(shape);
  const out = new Uint8Array(src.byteLength);
  if (count === 0) return out;
  // Strides, in elements, of the Fortran layout.
  const fStride: number[] = [];
  for (let k = 0, s = 1; k < n; k++) {
    fStride.push(s);
    s *= shape[k];
  }
  const idx = new Array<number>(n).fill(0);
  let from = 0;
  for (let c = 0; c < count; c++) {
    out.set(src.subarray(from * size, from * size + size), c * size);
    // Advance the C-order index (last dim fastest), keeping the Fortran offset in step.
    for (let k = n - 1; k >= 0; k--) {
      idx[k]++;
      from += fStride[k];
      if (idx[k] < shape[k]) break;
      from -= fStride[k] * shape[k];
      idx[k] = 0;
    }
  }
  return out;
}

/** A file of `fileSize` bytes must hold exactly the header and the data it declares. */
function checkDataLength(h: NpyHeader, fileSize: number): void {
  const have = fileSize - h.dataOffset;
  if (have < h.byteLength) {
    throw new HarmonicsError(
      'ERR_TRUNCATED',
      `the .npy data is ${have} bytes; ${h.descr} [${h.shape.join(', ')}] needs ${h.byteLength}: the file is cut short`,
    );
  }
  if (have > h.byteLength) throw new HarmonicsError('ERR_PROTOCOL', `the .npy file has ${have - h.byteLength} bytes after its data`);
}

/**
 * Decode a whole .npy file in memory: versions 1–3, either byte order, C or
 * Fortran order (transposed to C order, as `np.load` gives it).
 * @throws HarmonicsError as {@link parseNpyHeader}; `ERR_TRUNCATED` when the data is cut short;
 *   `ERR_PROTOCOL` for bytes after the data.
 */
export function decodeNpy(bytes: Uint8Array, options: ReadNpyOptions = {}): Tensor {
  const h = parseNpyHeader(bytes, options);
  checkDataLength(h, bytes.byteLength);
  return tensorFromBytes(h.dtype, h.shape, toCanonical(h, bytes.subarray(h.dataOffset)), 'the .npy array');
}

/** Read a .npy file from a source: its header, then its data, nothing else. */
export async function readNpy(source: RandomAccessSource, options: ReadNpyOptions = {}): Promise<Tensor> {
  const first = await source.read(0, Math.min(source.size, 12), options);
  const { dataOffset } = npyPreamble(first, options);
  if (dataOffset > source.size) throw new HarmonicsError('ERR_TRUNCATED', `the .npy file ends inside its ${dataOffset}-byte header`);
  const h = parseNpyHeader(await source.read(0, dataOffset, options), options);
  checkDataLength(h, source.size);
  const data = await source.read(h.dataOffset, h.byteLength, options);
  return tensorFromBytes(h.dtype, h.shape, toCanonical(h, data), 'the .npy array');
}

/** The .npy header for a tensor: version 1.0 (2.0 for headers over 64 KiB), `fortran_order: False`, padded to 64 bytes. */
export function npyHeader(dtype: DType, shape: readonly number[]): Uint8Array {
  elementCount(shape);
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${DESCR[dtype] ?? fail(dtype)}', 'fortran_order': False, 'shape': ${tuple}, }`;
  let version = 1;
  let pre = 10;
  let total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  if (total - pre > 0xffff) {
    version = 2;
    pre = 12;
    total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  }
  const text = dict.padEnd(total - pre - 1, ' ') + '\n';
  const out = new Uint8Array(total);
  out.set(MAGIC);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(encodeUtf8(text), pre);
  return out;
}

function fail(dtype: string): never {
  throw invalidArgument(`cannot write dtype ${JSON.stringify(dtype)} to .npy`);
}

/** A whole .npy file in memory. bfloat16 is written with ml_dtypes' `bfloat16` descr. */
export function encodeNpy(t: Tensor): Uint8Array {
  const header = npyHeader(t.dtype, t.shape);
  const out = new Uint8Array(header.byteLength + t.data.byteLength);
  out.set(header);
  out.set(bytesOf(t), header.byteLength);
  return out;
}

/** Write a .npy file to `sink` (header, then the data without a copy), then close the sink. */
export async function writeNpy(sink: ByteSink, t: Tensor, options: AbortOptions = {}): Promise<void> {
  try {
    await sink.write(npyHeader(t.dtype, t.shape), options);
    if (t.data.byteLength > 0) await sink.write(bytesOf(t), options);
  } finally {
    await sink.close();
  }
}
