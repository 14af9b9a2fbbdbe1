import { readU32LE, writeU32LE } from './bytes.js';
import { type DTypeInfo, type TypedArray, dtypeFromCode, dtypeInfo } from './dtype.js';
import { HarmonicsError, tooLargeError } from './errors.js';
import { MAX_SLAB_ALLOCATION, allocAligned, copyToSlab } from './slab.js';
import { MAX_NDIM, type Tensor, checkBool, elementCount, tensorBytes } from './tensor.js';

/** Default limit on one record (or framed message): 256 MiB. Every reader and writer takes `{ maxMessageBytes }`. */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/** Bytes of the u32 length prefix that precedes each record on byte streams. */
export const LENGTH_PREFIX_BYTES = 4;

const MAX_U32 = 0xffffffff;

/** Bytes of a record header for `ndim` dims: dtype u8, ndim u32, dims, byteLength u32. */
export function recordHeaderLength(ndim: number): number {
  return 9 + 4 * ndim;
}

/** A parsed record header (see DESIGN §4). */
export interface RecordHeader {
  readonly dtype: DTypeInfo;
  readonly shape: number[];
  /** Elements: prod(shape). */
  readonly count: number;
  /** Bytes of the header itself. */
  readonly headerLength: number;
  /** Bytes of data after the header (= count × element size, checked). */
  readonly byteLength: number;
}

/**
 * Parse the record header that starts at `bytes[offset]`, reading no further
 * than `end`. Returns the header, or — when the bytes seen so far are valid but
 * not enough — the total number of header bytes needed (a number), so stream
 * readers can wait for more. Never allocates the declared data size.
 *
 * `recordOffset` is where the record starts in the whole input, for messages.
 *
 * @throws HarmonicsError `ERR_BAD_DTYPE` (unknown dtype code), `ERR_BAD_SHAPE` (ndim over
 *   32, element count over 2^53, byteLength that disagrees with the shape),
 *   `ERR_TOO_LARGE` (record over `maxMessageBytes`).
 */
export function parseRecordHeader(
  bytes: Uint8Array,
  offset: number,
  end: number,
  maxMessageBytes: number = Number.MAX_SAFE_INTEGER,
  recordOffset: number = offset,
): RecordHeader | number {
  if (end - offset < 1) return 9;
  const code = bytes[offset];
  const dtype = dtypeFromCode(code);
  if (dtype === undefined) {
    throw new HarmonicsError(
      'ERR_BAD_DTYPE',
      `record at byte ${recordOffset} has unknown dtype code ${code}; known codes are 0-12 (0-4 are the C++ library's)`,
    );
  }
  if (end - offset < 5) return 9;
  const ndim = readU32LE(bytes, offset + 1);
  if (ndim > MAX_NDIM) {
    throw new HarmonicsError('ERR_BAD_SHAPE', `record at byte ${recordOffset} declares ${ndim} dims; at most ${MAX_NDIM} are supported`);
  }
  const headerLength = recordHeaderLength(ndim);
  if (end - offset < headerLength) return headerLength;
  const shape = new Array<number>(ndim);
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = readU32LE(bytes, offset + 5 + 4 * i);
    shape[i] = d;
    count *= d;
  }
  if (count > Number.MAX_SAFE_INTEGER) {
    throw new HarmonicsError('ERR_BAD_SHAPE', `record at byte ${recordOffset} has shape [${shape}] with over 2^53 elements`);
  }
  const byteLength = readU32LE(bytes, offset + headerLength - 4);
  if (byteLength !== count * dtype.size) {
    throw new HarmonicsError(
      'ERR_BAD_SHAPE',
      `record at byte ${recordOffset} declares ${byteLength} data bytes but ${dtype.name} [${shape}] needs ${count * dtype.size}`,
    );
  }
  if (headerLength + byteLength > maxMessageBytes) {
    throw tooLargeError(`record at byte ${recordOffset}`, headerLength + byteLength, maxMessageBytes);
  }
  return { dtype, shape, count, headerLength, byteLength };
}

/**
 * A fresh buffer for a record's data, aligned for its typed array (small ones
 * from the shared slab), and the typed array over it: where readers copy a
 * record's bytes to.
 */
export function allocRecordData(h: RecordHeader): { bytes: Uint8Array; data: TypedArray } {
  const bytes = allocAligned(h.byteLength);
  return { bytes, data: new h.dtype.array(bytes.buffer, bytes.byteOffset, h.count) };
}

/**
 * Make the tensor for `header` whose data starts at `bytes[dataOffset]`.
 * A view when the data is aligned for its typed array, else one copy into a
 * fresh array.
 */
export function tensorFromRecordData(header: RecordHeader, bytes: Uint8Array, dataOffset: number): Tensor {
  const { dtype, count, byteLength } = header;
  const start = bytes.byteOffset + dataOffset;
  let data: TypedArray;
  if (start % dtype.size === 0) {
    data = new dtype.array(bytes.buffer, start, count);
  } else if (byteLength <= MAX_SLAB_ALLOCATION && dataOffset <= 64) {
    // Small ones share a slab (one ArrayBuffer per 64 KiB, not per tensor); the
    // whole record is copied, so that no view of the source is needed.
    const [buffer, offset] = copyToSlab(bytes, 0, dataOffset, dataOffset + byteLength);
    data = new dtype.array(buffer, offset, count);
  } else {
    const copy = allocAligned(byteLength);
    copy.set(bytes.subarray(dataOffset, dataOffset + byteLength));
    data = new dtype.array(copy.buffer, copy.byteOffset, count);
  }
  if (dtype.name === 'bool') checkBool(data as Uint8Array);
  return { dtype: dtype.name, shape: header.shape, data } as Tensor;
}

/** Options for the one-shot decoder. */
export interface DecodeOptions {
  /** Reject a record larger than this (default: no limit, the bytes are already in memory). */
  maxMessageBytes?: number;
}

/**
 * Decode exactly one record.
 *
 * Cost: no copy when the data section is aligned for its element type (the
 * tensor is then a view of `bytes`, sharing its memory); otherwise one copy of
 * the data. `bytes` may be any view (its `byteOffset` is honoured).
 *
 * @throws HarmonicsError `ERR_TRUNCATED` when `bytes` ends inside the record;
 *   `ERR_PROTOCOL` when bytes follow the record; `ERR_BAD_DTYPE` for an unknown
 *   dtype code; `ERR_BAD_SHAPE` for more than 32 dims, a dim product over 2^53 or
 *   a byteLength that disagrees with the shape; `ERR_TOO_LARGE` over
 *   `maxMessageBytes`.
 */
export function decodeTensor(bytes: Uint8Array, options?: DecodeOptions): Tensor {
  const header = parseRecordHeader(bytes, 0, bytes.length, options?.maxMessageBytes);
  if (typeof header === 'number') {
    throw new HarmonicsError('ERR_TRUNCATED', `record at byte 0 is truncated: ${bytes.length} bytes, but its header alone needs ${header}`);
  }
  const total = header.headerLength + header.byteLength;
  if (bytes.length < total) {
    throw new HarmonicsError('ERR_TRUNCATED', `record at byte 0 is truncated: it needs ${total} bytes but only ${bytes.length} are present`);
  }
  if (bytes.length > total) {
    throw new HarmonicsError('ERR_PROTOCOL', `expected exactly one record of ${total} bytes, but ${bytes.length - total} more bytes follow it`);
  }
  return tensorFromRecordData(header, bytes, header.headerLength);
}

/**
 * {@link decodeTensor} for memory the caller owns and gives up (a view of a
 * socket read buffer nothing else reads): misaligned data is moved back over
 * the record's own header (at least 9 bytes, more than any alignment shift)
 * instead of being copied out, so the tensor is a view of `bytes` either way.
 * The header bytes are overwritten. Anything that is not exactly one valid
 * record gets decodeTensor's error.
 */
export function decodeTensorInPlace(bytes: Uint8Array, maxMessageBytes: number): Tensor {
  const h = parseRecordHeader(bytes, 0, bytes.length, maxMessageBytes);
  if (typeof h === 'number' || h.headerLength + h.byteLength !== bytes.length) return decodeTensor(bytes, { maxMessageBytes });
  let at = h.headerLength;
  const shift = (bytes.byteOffset + at) % h.dtype.size;
  if (shift !== 0) {
    bytes.copyWithin(at - shift, at, at + h.byteLength);
    at -= shift;
  }
  return tensorFromRecordData(h, bytes, at);
}

/**
 * Bytes of the record for `t` (header + data), without the stream length prefix.
 * @throws HarmonicsError `ERR_BAD_SHAPE` / `ERR_TOO_LARGE` when the tensor cannot be encoded.
 */
export function encodedByteLength(t: Tensor): number {
  return recordHeaderLength(t.shape.length) + t.data.byteLength;
}

/**
 * The dtype of `t` after checking that its data holds `prod(shape)` elements
 * of the dtype's size: what every sender checks before its bytes go out.
 * @throws HarmonicsError `ERR_BAD_DTYPE` for an unknown dtype, `ERR_BAD_SHAPE` otherwise.
 */
export function checkTensorData(t: Tensor): DTypeInfo {
  const info = dtypeInfo(t.dtype);
  const count = elementCount(t.shape);
  if (t.data.length !== count || t.data.BYTES_PER_ELEMENT !== info.size) {
    throw new HarmonicsError(
      'ERR_BAD_SHAPE',
      `tensor ${t.dtype} [${t.shape.join(', ')}] has ${t.data.length} elements of ${t.data.BYTES_PER_ELEMENT} bytes; expected ${count} of ${info.size}`,
    );
  }
  return info;
}

function checkEncodable(t: Tensor): DTypeInfo {
  const info = checkTensorData(t);
  for (const d of t.shape) {
    if (d > MAX_U32) throw new HarmonicsError('ERR_BAD_SHAPE', `dim ${d} does not fit the wire format's u32 dims`);
  }
  if (t.data.byteLength > MAX_U32) {
    throw new HarmonicsError('ERR_TOO_LARGE', `tensor data of ${t.data.byteLength} bytes does not fit the wire format's u32 length`);
  }
  // A bool of 2..255 would be refused by every receiver (and end its whole stream there): refuse it here, before sending.
  if (t.dtype === 'bool') checkBool(t.data as Uint8Array);
  return info;
}

/**
 * Write the record header of `t` into `out` at `offset`; returns the offset after it.
 * The caller provides room for {@link recordHeaderLength}(ndim) bytes.
 */
export function writeRecordHeader(t: Tensor, info: DTypeInfo, out: Uint8Array, offset: number): number {
  const shape = t.shape;
  out[offset] = info.code;
  writeU32LE(out, offset + 1, shape.length);
  let o = offset + 5;
  for (let i = 0; i < shape.length; i++, o += 4) writeU32LE(out, o, shape[i]);
  writeU32LE(out, o, t.data.byteLength);
  return o + 4;
}

/** Options for encoders. */
export interface EncodeOptions {
  /** Put the u32 length prefix of byte streams in front of the record (default false). */
  lengthPrefix?: boolean;
}

/**
 * Encode `t` as one contiguous record (optionally with its length prefix).
 * Cost: one copy of the data. Records up to 4 KiB are carved from a shared
 * slab (so the result may have a non-zero `byteOffset` and share its
 * `ArrayBuffer`: copy it before transferring the buffer to a worker); larger
 * ones get a buffer of their own.
 * @throws HarmonicsError `ERR_BAD_SHAPE`, `ERR_BAD_DTYPE` or `ERR_TOO_LARGE` for a tensor that cannot be encoded.
 */
export function encodeTensor(t: Tensor, options?: EncodeOptions): Uint8Array {
  const info = checkEncodable(t);
  const prefix = options?.lengthPrefix ? LENGTH_PREFIX_BYTES : 0;
  const recordLength = recordHeaderLength(t.shape.length) + t.data.byteLength;
  const out = allocAligned(prefix + recordLength);
  if (prefix) writeU32LE(out, 0, recordLength);
  const dataOffset = writeRecordHeader(t, info, out, prefix);
  out.set(tensorBytes(t), dataOffset);
  return out;
}

/**
 * Encode `t` into `out` at `offset` (optionally with its length prefix); returns
 * the offset after the record. Cost: one copy of the data, no allocation.
 * @throws HarmonicsError `ERR_TOO_LARGE` when `out` has no room, and the errors of {@link encodeTensor}.
 */
export function encodeTensorInto(t: Tensor, out: Uint8Array, offset = 0, options?: EncodeOptions): number {
  const info = checkEncodable(t);
  const prefix = options?.lengthPrefix ? LENGTH_PREFIX_BYTES : 0;
  const recordLength = recordHeaderLength(t.shape.length) + t.data.byteLength;
  if (offset + prefix + recordLength > out.length) {
    throw new HarmonicsError('ERR_TOO_LARGE', `record of ${prefix + recordLength} bytes does not fit in ${out.length - offset} bytes of output`);
  }
  if (prefix) writeU32LE(out, offset, recordLength);
  const dataOffset = writeRecordHeader(t, info, out, offset + prefix);
  out.set(tensorBytes(t), dataOffset);
  return dataOffset + t.data.byteLength;
}

/**
 * Encode `t` as two pieces for senders that write pieces (writev, cork):
 * a small new header buffer (with the length prefix when asked) and a view of
 * the tensor's own data. Cost: a header allocation, no data copy; the data
 * piece shares the tensor's memory.
 * @throws HarmonicsError the errors of {@link encodeTensor}.
 */
export function encodeTensorParts(t: Tensor, options?: EncodeOptions): [header: Uint8Array, data: Uint8Array] {
  const info = checkEncodable(t);
  const prefix = options?.lengthPrefix ? LENGTH_PREFIX_BYTES : 0;
  const headerLength = recordHeaderLength(t.shape.length);
  const header = new Uint8Array(prefix + headerLength);
  if (prefix) writeU32LE(header, 0, headerLength + t.data.byteLength);
  writeRecordHeader(t, info, header, prefix);
  return [header, tensorBytes(t)];
}
