// FlightData, framed by hand:
//   message FlightData {
//     FlightDescriptor flight_descriptor = 1;
//     bytes data_header = 2;    // an Arrow IPC message flatbuffer, no continuation prefix
//     bytes app_metadata = 3;
//     bytes data_body = 1000;   // the message body: the tensors' bytes, padded to 8
//   }
// data_header is padded with zeros so that the body lands on an 8-byte
// boundary of the receiver's buffer: grpc-js hands a deserializer the message
// 5 bytes (its frame header) into an 8-aligned buffer, so received tensors are
// views, never copies. Flatbuffer readers ignore trailing bytes.
import { ProtoReader, varintLength, writeVarint } from './proto.js';

const TAG_DESCRIPTOR = 0x0a; // field 1, length-delimited
const TAG_HEADER = 0x12; // field 2
const TAG_APP_METADATA = 0x1a; // field 3
const TAG_BODY = [0xc2, 0x3e]; // field 1000, length-delimited: varint 8002
/** grpc-js's frame header in front of a message in its receive buffer. */
const GRPC_FRAME_HEADER = 5;
/** Below this body size one Buffer is built; above it, grpc-js copies straight from the tensors. */
export const LAZY_THRESHOLD = 64 * 1024;

/** What one FlightData carries. The body is the concatenation of `body` plus zeros up to `bodyLength`. */
export interface FlightDataParts {
  descriptor?: Uint8Array;
  header: Uint8Array;
  appMetadata?: Uint8Array;
  body: readonly Uint8Array[];
  bodyLength: number;
}

/** Bytes before the body, and how many zeros pad the header so the body is 8-aligned in the receiver. */
function prefixLayout(p: FlightDataParts): { prefix: number; pad: number } {
  const fixed =
    (p.descriptor !== undefined ? 1 + varintLength(p.descriptor.length) + p.descriptor.length : 0) +
    (p.appMetadata !== undefined && p.appMetadata.length > 0 ? 1 + varintLength(p.appMetadata.length) + p.appMetadata.length : 0) +
    (p.bodyLength > 0 ? 2 + varintLength(p.bodyLength) : 0);
  if (p.bodyLength === 0) {
    return { prefix: fixed + (p.header.length > 0 ? 1 + varintLength(p.header.length) + p.header.length : 0), pad: 0 };
  }
  for (let pad = 0; pad < 16; pad++) {
    const h = p.header.length + pad;
    const prefix = fixed + 1 + varintLength(h) + h;
    if ((GRPC_FRAME_HEADER + prefix) % 8 === 0) return { prefix, pad };
  }
  /* c8 ignore next */
  throw new Error('unreachable: no padding aligns the body');
}

function writePrefix(p: FlightDataParts, pad: number, out: Uint8Array, o: number): number {
  if (p.descriptor !== undefined) {
    out[o++] = TAG_DESCRIPTOR;
    o = writeVarint(out, o, p.descriptor.length);
    out.set(p.descriptor, o);
    o += p.descriptor.length;
  }
  const h = p.header.length + pad;
  if (h > 0) {
    out[o++] = TAG_HEADER;
    o = writeVarint(out, o, h);
    out.set(p.header, o);
    o += p.header.length;
    out.fill(0, o, o + pad);
    o += pad;
  }
  if (p.appMetadata !== undefined && p.appMetadata.length > 0) {
    out[o++] = TAG_APP_METADATA;
    o = writeVarint(out, o, p.appMetadata.length);
    out.set(p.appMetadata, o);
    o += p.appMetadata.length;
  }
  if (p.bodyLength > 0) {
    out[o++] = TAG_BODY[0];
    out[o++] = TAG_BODY[1];
    o = writeVarint(out, o, p.bodyLength);
  }
  return o;
}

function writeBody(p: FlightDataParts, out: Uint8Array, o: number): number {
  const end = o + p.bodyLength;
  for (const part of p.body) {
    out.set(part, o);
    o += part.length;
  }
  out.fill(0, o, end);
  return end;
}

/**
 * A FlightData message that grpc-js copies straight from the tensors into its
 * frame, so large tensors are copied once on send. grpc-js (1.14, tested with 1.14.7) reads
 * only `length`/`byteLength` of what a serializer returns and calls
 * `copy(frame, 5)`; tests move large tensors through it bit-exactly, so a
 * grpc-js that changes this fails loudly. `copied` resolves on the first copy:
 * the tensors' memory is not read after it.
 */
export class LazyFlightData {
  readonly length: number;
  private parts: FlightDataParts | undefined;
  private readonly pad: number;
  private first: Uint8Array | undefined;
  private resolveCopied!: () => void;
  readonly copied: Promise<void> = new Promise<void>((r) => (this.resolveCopied = r));
  isCopied = false;
  /** Set when the message was written without grpc-js: resolves once the tensors' memory was written out. */
  released: Promise<void> | undefined;

  constructor(parts: FlightDataParts) {
    const { prefix, pad } = prefixLayout(parts);
    this.parts = parts;
    this.pad = pad;
    this.length = prefix + parts.bodyLength;
  }

  get byteLength(): number {
    return this.length;
  }

  /**
   * The gRPC-framed message as buffers to write in order, without copying the
   * body: the 5-byte gRPC message prefix and the FlightData fields before the
   * body in one small buffer, then the body's parts (views of the tensors),
   * then its zero padding.
   */
  framedChunks(): Uint8Array[] {
    const p = this.parts!;
    const prefixLength = this.length - p.bodyLength;
    const head = new Uint8Array(5 + prefixLength);
    new DataView(head.buffer).setUint32(1, this.length);
    writePrefix(p, this.pad, head, 5);
    const out: Uint8Array[] = [head];
    let n = 0;
    for (const part of p.body) {
      if (part.length > 0) out.push(part);
      n += part.length;
    }
    if (n < p.bodyLength) out.push(new Uint8Array(p.bodyLength - n));
    return out;
  }

  copy(target: Uint8Array, targetStart = 0): number {
    if (this.first !== undefined) {
      target.set(this.first, targetStart);
      return this.length;
    }
    const p = this.parts!;
    writeBody(p, target, writePrefix(p, this.pad, target, targetStart));
    this.first = target.subarray(targetStart, targetStart + this.length);
    this.parts = undefined;
    this.isCopied = true;
    this.resolveCopied();
    return this.length;
  }
}

/**
 * One FlightData as a Buffer, or with `lazy` (fast paths on, plain messages)
 * a {@link LazyFlightData} for large bodies. Default `lazy`: false.
 */
export function flightData(parts: FlightDataParts, lazy = false): Buffer | LazyFlightData {
  if (lazy && parts.bodyLength >= LAZY_THRESHOLD) return new LazyFlightData(parts);
  const { prefix, pad } = prefixLayout(parts);
  const out = Buffer.allocUnsafe(prefix + parts.bodyLength);
  writeBody(parts, out, writePrefix(parts, pad, out, 0));
  return out;
}

/** A received FlightData: views into the message buffer. */
export interface ReceivedFlightData {
  descriptor: Uint8Array | undefined;
  header: Uint8Array;
  appMetadata: Uint8Array | undefined;
  body: Uint8Array;
}

/**
 * Parse a FlightData message (no copies: the fields are views).
 * @throws HarmonicsError `ERR_PROTOCOL` when it is not valid protobuf.
 */
export function parseFlightData(message: Uint8Array): ReceivedFlightData {
  const r = new ProtoReader(message, 'FlightData');
  const out: ReceivedFlightData = {
    descriptor: undefined,
    header: EMPTY,
    appMetadata: undefined,
    body: EMPTY,
  };
  for (let f = r.next(); f !== undefined; f = r.next()) {
    if (f.wireType !== 2) continue;
    if (f.field === 1) out.descriptor = f.bytes;
    else if (f.field === 2) out.header = f.bytes;
    else if (f.field === 3) out.appMetadata = f.bytes;
    else if (f.field === 1000) out.body = f.bytes;
  }
  return out;
}

const EMPTY = new Uint8Array(0);
