// Hand-written protobuf codecs for the two messages of harmonics.TensorService:
//   message TensorData { bytes serialized = 1; }   and   google.protobuf.Empty
// Small enough that a code generator would add a dependency, a runtime and a
// copy (message object → Uint8Array → Buffer) for nothing.
import { type Tensor, HarmonicsError, decodeTensor, encodeTensorInto, encodeTensorParts, encodedByteLength } from '@harmonics/core';

/** Field 1, wire type 2 (length-delimited): `TensorData.serialized`. */
const TAG_SERIALIZED = 0x0a;
/**
 * Field 15, wire type 2: padding, not in the service description. Protobuf
 * parsers skip unknown fields (the C++ and Python runtimes do), so a sender
 * may put it in front of `serialized` to move the tensor data of the record to
 * an 8-byte boundary of the receiver's message buffer; our receiver can then
 * return views instead of copying.
 */
const TAG_PADDING = 0x7a;
/** grpc-js hands the deserializer the message 5 bytes (its frame header) into an 8-aligned buffer. */
const GRPC_FRAME_HEADER = 5;

/** Protobuf framing around one record: tag, varint length, padding. Limits add this to the record size. */
export const TENSOR_DATA_OVERHEAD = 16;

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(out: Uint8Array, offset: number, n: number): number {
  while (n >= 0x80) {
    out[offset++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[offset++] = n;
  return offset;
}

/**
 * Bytes of padding field to put first so that the record's data section starts
 * 8-aligned in the receiver's buffer: 0, or 2..9 (tag, length, filler).
 */
function paddingFor(recordLength: number, headerLength: number): number {
  const misalign = (GRPC_FRAME_HEADER + 1 + varintLength(recordLength) + headerLength) % 8;
  if (misalign === 0) return 0;
  const need = 8 - misalign; // bytes to add, 1..7; the field costs at least 2
  return need >= 2 ? need : need + 8;
}

/**
 * Serialize `t` as `TensorData { serialized = record }` into one new Buffer
 * (grpc-js requires a Buffer): one copy of the tensor data.
 * @throws HarmonicsError the errors of `encodeTensor`.
 */
export function encodeTensorData(t: Tensor): Buffer {
  const recordLength = encodedByteLength(t);
  const headerLength = recordLength - t.data.byteLength;
  const pad = paddingFor(recordLength, headerLength);
  const out = Buffer.allocUnsafe(pad + 1 + varintLength(recordLength) + recordLength);
  let o = 0;
  if (pad > 0) {
    out[0] = TAG_PADDING;
    out[1] = pad - 2;
    out.fill(0, 2, pad);
    o = pad;
  }
  out[o++] = TAG_SERIALIZED;
  o = writeVarint(out, o, recordLength);
  encodeTensorInto(t, out, o);
  return out;
}

/**
 * The message for `t`: with `lazy` (fast paths on, plain messages) a
 * {@link LazyTensorData} for tensors of 64 KiB and more (grpc-js copies them
 * straight into its frame), else one Buffer.
 * @throws HarmonicsError the errors of `encodeTensor`.
 */
export function tensorMessage(t: Tensor, lazy: boolean): Buffer | LazyTensorData {
  return lazy && t.data.byteLength >= 64 * 1024 ? new LazyTensorData(t) : encodeTensorData(t);
}

/**
 * A `TensorData` message that grpc-js copies straight from the tensor into
 * its frame, so a large tensor is copied once instead of twice (once into a
 * serialized Buffer, once into the frame). grpc-js (1.14, tested with 1.14.7) reads only
 * `length`/`byteLength` of what a serializer returns and calls `copy(frame, 5)`;
 * a test sends large tensors through it bit-exactly, so a grpc-js that
 * changes this fails loudly. `copied` resolves on the first copy: the
 * tensor's memory is not read after it (a repeated copy, for a retry, reads
 * the first frame).
 */
export class LazyTensorData {
  readonly length: number;
  private prefix: Uint8Array;
  private data: Uint8Array | undefined;
  private first: Uint8Array | undefined;
  private resolveCopied!: () => void;
  /** Resolves once the tensor has been copied into grpc-js's frame. */
  readonly copied: Promise<void> = new Promise<void>((r) => (this.resolveCopied = r));
  isCopied = false;

  constructor(t: Tensor) {
    const [header, data] = encodeTensorParts(t); // validates the tensor
    const recordLength = header.length + data.length;
    const pad = paddingFor(recordLength, header.length);
    const prefix = new Uint8Array(pad + 1 + varintLength(recordLength) + header.length);
    let o = 0;
    if (pad > 0) {
      prefix[0] = TAG_PADDING;
      prefix[1] = pad - 2;
      o = pad;
    }
    prefix[o++] = TAG_SERIALIZED;
    o = writeVarint(prefix, o, recordLength);
    prefix.set(header, o);
    this.prefix = prefix;
    this.data = data;
    this.length = prefix.length + data.length;
  }

  get byteLength(): number {
    return this.length;
  }

  /** Buffer#copy's contract, as grpc-js uses it: the whole message into `target` at `targetStart`. */
  copy(target: Uint8Array, targetStart = 0): number {
    if (this.first !== undefined) {
      target.set(this.first, targetStart);
      return this.length;
    }
    target.set(this.prefix, targetStart);
    target.set(this.data!, targetStart + this.prefix.length);
    this.first = target.subarray(targetStart, targetStart + this.length);
    this.data = undefined;
    this.isCopied = true;
    this.resolveCopied();
    return this.length;
  }
}

function protocolError(detail: string): HarmonicsError {
  return new HarmonicsError('ERR_PROTOCOL', `malformed TensorData message: ${detail}; is the peer a harmonics.TensorService?`);
}

/** Reads a varint at `o`; returns [value, next offset]; throws on truncation. */
function readVarint(b: Uint8Array, o: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (o >= b.length) throw protocolError('varint cut short');
    const byte = b[o++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, o];
    scale *= 128;
  }
  throw protocolError('varint longer than 10 bytes');
}

/** Offset after the unknown field whose tag has `wireType`, starting at `o` (just past the tag). */
function skipField(b: Uint8Array, o: number, wireType: number): number {
  switch (wireType) {
    case 0:
      return readVarint(b, o)[1];
    case 1:
      o += 8;
      break;
    case 2: {
      const [len, after] = readVarint(b, o);
      o = after + len;
      break;
    }
    case 5:
      o += 4;
      break;
    default:
      throw protocolError(`unsupported wire type ${wireType}`);
  }
  if (o > b.length) throw protocolError('field cut short');
  return o;
}

/**
 * Parse `TensorData` and decode its record: a view of `message` when the data
 * is aligned (no copy), else one copy. Unknown fields are skipped; a missing
 * `serialized` field is an empty record, which is `ERR_TRUNCATED`.
 * @throws HarmonicsError `ERR_PROTOCOL` for malformed protobuf, `ERR_TOO_LARGE`
 *   over `maxMessageBytes`, and the errors of `decodeTensor`.
 */
export function decodeTensorData(message: Uint8Array, maxMessageBytes: number): Tensor {
  let start = 0;
  let end = 0;
  let o = 0;
  while (o < message.length) {
    const [tag, afterTag] = readVarint(message, o);
    if (tag === TAG_SERIALIZED) {
      const [len, after] = readVarint(message, afterTag);
      if (after + len > message.length) throw protocolError(`serialized field of ${len} bytes cut short`);
      start = after;
      end = after + len;
      o = end;
    } else {
      o = skipField(message, afterTag, tag & 7);
    }
  }
  return decodeTensor(message.subarray(start, end), { maxMessageBytes });
}

const EMPTY = Buffer.alloc(0);

/** `google.protobuf.Empty`: no bytes. */
export function encodeEmpty(): Buffer {
  return EMPTY;
}

/** `google.protobuf.Empty`: any fields are ignored, as protobuf does for unknown ones. */
export function decodeEmpty(): Record<string, never> {
  return {};
}
