// Hand-written protobuf codecs for the messages of arrow.flight.protocol
// (Arrow's Flight.proto) that this package uses. The messages are small and
// few; FlightData, the one that carries tensor bytes, is framed by hand in
// flight-data.ts so the body is copied once, straight into grpc-js's frame.
// A generator would add a runtime and an extra copy for nothing.
import { HarmonicsError } from '@harmonics/core';

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

export function writeVarint(out: Uint8Array, offset: number, n: number): number {
  while (n >= 0x80) {
    out[offset++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[offset++] = n;
  return offset;
}

/** Builds one small message field by field; `finish()` returns it as a Buffer (what grpc-js wants). */
export class ProtoWriter {
  private parts: (number | Uint8Array)[] = [];
  private size = 0;

  /** A varint field (int64/uint64/bool/enum); zero is left out, as proto3 does. Negative numbers are sign-extended to 10 bytes. */
  varint(field: number, value: number | boolean): this {
    const v = typeof value === 'boolean' ? Number(value) : value;
    if (v === 0) return this;
    this.tag(field, 0);
    if (v < 0) {
      // two's complement over 64 bits, as protobuf writes negative int64s
      const big = BigInt.asUintN(64, BigInt(v));
      const bytes: number[] = [];
      let x = big;
      while (x >= 0x80n) {
        bytes.push(Number(x & 0x7fn) | 0x80);
        x >>= 7n;
      }
      bytes.push(Number(x));
      this.raw(Uint8Array.from(bytes));
    } else {
      this.rawVarint(v);
    }
    return this;
  }

  /** A bytes field; empty is left out. */
  bytes(field: number, value: Uint8Array | undefined): this {
    if (value === undefined || value.length === 0) return this;
    this.tag(field, 2);
    this.rawVarint(value.length);
    this.raw(value);
    return this;
  }

  /** A string field; empty is left out. */
  string(field: number, value: string | undefined): this {
    return value === undefined || value === '' ? this : this.bytes(field, utf8.encode(value));
  }

  /** A repeated string field: one entry per element, empty ones included. */
  strings(field: number, values: readonly string[]): this {
    for (const v of values) {
      const b = utf8.encode(v);
      this.tag(field, 2);
      this.rawVarint(b.length);
      this.raw(b);
    }
    return this;
  }

  /** An embedded message field (written even when empty, so presence is kept). */
  message(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.rawVarint(value.length);
    this.raw(value);
    return this;
  }

  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.size);
    let o = 0;
    for (const p of this.parts) {
      if (typeof p === 'number') out[o++] = p;
      else {
        out.set(p, o);
        o += p.length;
      }
    }
    return out;
  }

  private tag(field: number, wireType: number): void {
    this.rawVarint(field * 8 + wireType);
  }

  private rawVarint(n: number): void {
    this.size += varintLength(n);
    while (n >= 0x80) {
      this.parts.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    this.parts.push(n);
  }

  private raw(b: Uint8Array): void {
    this.parts.push(b);
    this.size += b.length;
  }
}

export function malformed(message: string, detail: string): HarmonicsError {
  return new HarmonicsError('ERR_PROTOCOL', `malformed ${message} message: ${detail}`);
}

/** One field as read: number, wire type, and its value (a varint, or a view of the bytes). */
export interface ProtoField {
  field: number;
  wireType: number;
  varint: number;
  bytes: Uint8Array;
}

/** Reads fields one by one; views into the message, no copies. */
export class ProtoReader {
  private o = 0;
  private readonly current: ProtoField = { field: 0, wireType: 0, varint: 0, bytes: new Uint8Array(0) };

  constructor(
    private readonly b: Uint8Array,
    private readonly name: string,
  ) {}

  /** The next field, or `undefined` at the end. The returned object is reused by the next call. */
  next(): ProtoField | undefined {
    const b = this.b;
    if (this.o >= b.length) return undefined;
    const tag = this.readVarint();
    if (!(tag >= 8)) throw malformed(this.name, `bad field tag ${tag} at byte ${this.o}`); // field numbers start at 1
    const f = this.current;
    f.field = Math.floor(tag / 8);
    f.wireType = tag & 7;
    switch (f.wireType) {
      case 0:
        f.varint = this.readVarint();
        break;
      case 1:
        f.bytes = this.take(8);
        break;
      case 2:
        f.bytes = this.take(this.readVarint());
        break;
      case 5:
        f.bytes = this.take(4);
        break;
      default:
        throw malformed(this.name, `unsupported wire type ${f.wireType} at byte ${this.o}`);
    }
    return f;
  }

  /** Reads a varint as an int64 (negative ones come back negative); beyond 2^53 precision is lost (no field we read goes there). */
  private readVarint(): number {
    const b = this.b;
    const start = this.o;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.o >= b.length) throw malformed(this.name, 'varint cut short');
      const byte = b[this.o++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return i < 7 ? value : this.wide(start);
      scale *= 128;
    }
    throw malformed(this.name, 'varint longer than 10 bytes');
  }

  /** A varint of 8 to 10 bytes, read exactly as a signed 64-bit integer. */
  private wide(start: number): number {
    let v = 0n;
    for (let o = this.o - 1; o >= start; o--) v = (v << 7n) | BigInt(this.b[o] & 0x7f);
    return Number(BigInt.asIntN(64, v));
  }

  private take(n: number): Uint8Array {
    // A length varint can decode negative (10 bytes, sign-extended): never move the cursor backwards.
    if (!(n >= 0)) throw malformed(this.name, `negative field length ${n} at byte ${this.o}`);
    if (this.o + n > this.b.length) throw malformed(this.name, `field of ${n} bytes cut short`);
    const v = this.b.subarray(this.o, this.o + n);
    this.o += n;
    return v;
  }
}

export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw malformed(what, 'a string field is not valid UTF-8');
  }
}

export function encodeUtf8(s: string): Uint8Array {
  return utf8.encode(s);
}

// ---- FlightDescriptor -------------------------------------------------------

export const DESCRIPTOR_UNKNOWN = 0;
export const DESCRIPTOR_PATH = 1;
export const DESCRIPTOR_CMD = 2;

export interface FlightDescriptor {
  type: number;
  cmd?: Uint8Array;
  path?: string[];
}

export function encodeDescriptor(d: FlightDescriptor): Buffer {
  return new ProtoWriter()
    .varint(1, d.type)
    .bytes(2, d.cmd)
    .strings(3, d.path ?? [])
    .finish();
}

export function decodeDescriptor(b: Uint8Array): FlightDescriptor {
  const r = new ProtoReader(b, 'FlightDescriptor');
  const d: FlightDescriptor = { type: DESCRIPTOR_UNKNOWN, path: [] };
  for (let f = r.next(); f !== undefined; f = r.next()) {
    if (f.field === 1 && f.wireType === 0) d.type = f.varint;
    else if (f.field === 2 && f.wireType === 2) d.cmd = f.bytes.slice();
    else if (f.field === 3 && f.wireType === 2) d.path!.push(decodeUtf8(f.bytes, 'FlightDescriptor'));
  }
  return d;
}

// ---- Ticket, Location, FlightEndpoint, FlightInfo, SchemaResult ---------------

export function encodeTicket(ticket: Uint8Array): Buffer {
  return new ProtoWriter().bytes(1, ticket).finish();
}

export function decodeTicket(b: Uint8Array): Uint8Array {
  const r = new ProtoReader(b, 'Ticket');
  let ticket = new Uint8Array(0);
  for (let f = r.next(); f !== undefined; f = r.next()) if (f.field === 1 && f.wireType === 2) ticket = f.bytes.slice();
  return ticket;
}

export interface FlightEndpoint {
  ticket: Uint8Array;
  locations: string[];
}

export interface FlightInfo {
  /** The schema as an encapsulated IPC message (continuation marker, length, flatbuffer, padding); empty when unknown. */
  schema: Uint8Array;
  descriptor: FlightDescriptor;
  endpoints: FlightEndpoint[];
  totalRecords: number;
  totalBytes: number;
  ordered: boolean;
}

function encodeEndpoint(e: FlightEndpoint): Buffer {
  const w = new ProtoWriter().message(1, encodeTicket(e.ticket));
  for (const uri of e.locations) w.message(2, new ProtoWriter().string(1, uri).finish());
  return w.finish();
}

export function encodeFlightInfo(info: FlightInfo): Buffer {
  const w = new ProtoWriter().bytes(1, info.schema).message(2, encodeDescriptor(info.descriptor));
  for (const e of info.endpoints) w.message(3, encodeEndpoint(e));
  return w.varint(4, info.totalRecords).varint(5, info.totalBytes).varint(6, info.ordered).finish();
}

function decodeEndpoint(b: Uint8Array): FlightEndpoint {
  const r = new ProtoReader(b, 'FlightEndpoint');
  const e: FlightEndpoint = { ticket: new Uint8Array(0), locations: [] };
  for (let f = r.next(); f !== undefined; f = r.next()) {
    if (f.field === 1 && f.wireType === 2) e.ticket = decodeTicket(f.bytes);
    else if (f.field === 2 && f.wireType === 2) {
      const lr = new ProtoReader(f.bytes, 'Location');
      for (let l = lr.next(); l !== undefined; l = lr.next()) {
        if (l.field === 1 && l.wireType === 2) e.locations.push(decodeUtf8(l.bytes, 'Location'));
      }
    }
  }
  return e;
}

export function decodeFlightInfo(b: Uint8Array): FlightInfo {
  const r = new ProtoReader(b, 'FlightInfo');
  const info: FlightInfo = {
    schema: new Uint8Array(0),
    descriptor: { type: DESCRIPTOR_UNKNOWN, path: [] },
    endpoints: [],
    totalRecords: -1,
    totalBytes: -1,
    ordered: false,
  };
  let records = 0;
  let bytes = 0;
  for (let f = r.next(); f !== undefined; f = r.next()) {
    if (f.field === 1 && f.wireType === 2) info.schema = f.bytes.slice();
    else if (f.field === 2 && f.wireType === 2) info.descriptor = decodeDescriptor(f.bytes);
    else if (f.field === 3 && f.wireType === 2) info.endpoints.push(decodeEndpoint(f.bytes));
    else if (f.field === 4 && f.wireType === 0) records = f.varint;
    else if (f.field === 5 && f.wireType === 0) bytes = f.varint;
    else if (f.field === 6 && f.wireType === 0) info.ordered = f.varint !== 0;
  }
  info.totalRecords = records;
  info.totalBytes = bytes;
  return info;
}

export function encodeSchemaResult(schema: Uint8Array): Buffer {
  return new ProtoWriter().bytes(1, schema).finish();
}

export function decodeSchemaResult(b: Uint8Array): Uint8Array {
  const r = new ProtoReader(b, 'SchemaResult');
  let schema = new Uint8Array(0);
  for (let f = r.next(); f !== undefined; f = r.next()) if (f.field === 1 && f.wireType === 2) schema = f.bytes.slice();
  return schema;
}

// ---- Criteria, Empty, PutResult, Handshake, Action, Result, ActionType -------

const EMPTY = Buffer.alloc(0);

export function encodeEmpty(): Buffer {
  return EMPTY;
}

/** PutResult, HandshakeRequest/Response and Result all carry their bytes in one field (1 or 2). */
export function encodeBytesField(field: number, value: Uint8Array | undefined): Buffer {
  return new ProtoWriter().bytes(field, value).finish();
}

export function decodeBytesField(b: Uint8Array, field: number, name: string): Uint8Array {
  const r = new ProtoReader(b, name);
  let v = new Uint8Array(0);
  for (let f = r.next(); f !== undefined; f = r.next()) if (f.field === field && f.wireType === 2) v = f.bytes.slice();
  return v;
}

export interface Action {
  type: string;
  body: Uint8Array;
}

export function encodeAction(a: Action): Buffer {
  return new ProtoWriter().string(1, a.type).bytes(2, a.body).finish();
}

export function decodeAction(b: Uint8Array): Action {
  const r = new ProtoReader(b, 'Action');
  const a: Action = { type: '', body: new Uint8Array(0) };
  for (let f = r.next(); f !== undefined; f = r.next()) {
    if (f.field === 1 && f.wireType === 2) a.type = decodeUtf8(f.bytes, 'Action');
    else if (f.field === 2 && f.wireType === 2) a.body = f.bytes.slice();
  }
  return a;
}

export function encodeActionType(type: string, description: string): Buffer {
  return new ProtoWriter().string(1, type).string(2, description).finish();
}
