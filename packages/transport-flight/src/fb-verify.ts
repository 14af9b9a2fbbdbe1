// A bounds check of Arrow IPC Message flatbuffers (Schema and RecordBatch
// headers) before apache-arrow decodes them. apache-arrow reads flatbuffers
// without verifying them: a vector length read from a crafted 500-byte message
// (a schema's fields or children, a batch's buffers) makes it loop and
// allocate until the heap is gone. Here every table, vtable, string and vector
// a decoder would follow must lie inside the message, nesting is bounded, and
// the number of objects is bounded, so what reaches apache-arrow costs at most
// a few objects per byte. Layouts follow Arrow's Message.fbs and Schema.fbs.
import { HarmonicsError } from '@harmonics/core';

/** Nested fields deeper than this (list of list of …) are refused. */
const MAX_DEPTH = 64;
/** Tables, strings and vector elements visited in one message, at most. */
const MAX_OBJECTS = 100_000;

const enum Header {
  Schema = 1,
  DictionaryBatch = 2,
  RecordBatch = 3,
}

const enum TypeId {
  Timestamp = 10,
  Union = 14,
}

class Verifier {
  private readonly view: DataView;
  private objects = 0;

  constructor(
    private readonly b: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  fail(detail: string): never {
    throw new HarmonicsError('ERR_PROTOCOL', `${this.what} is not a valid Arrow IPC message: ${detail}`);
  }

  private count(n: number): void {
    this.objects += n;
    if (this.objects > MAX_OBJECTS) this.fail(`more than ${MAX_OBJECTS} objects`);
  }

  private within(at: number, size: number, what: string): void {
    if (!(at >= 0 && size >= 0 && at + size <= this.b.length))
      this.fail(`${what} (${size} bytes at ${at}) lies outside the ${this.b.length}-byte message`);
  }

  /** The root table's position. */
  root(): number {
    this.within(0, 4, 'the root offset');
    return this.table(this.view.getUint32(0, true), 'the root table');
  }

  /** Checks the table at `t` and its vtable; returns `t`. */
  table(t: number, what: string): number {
    this.count(1);
    this.within(t, 4, what);
    const vt = t - this.view.getInt32(t, true);
    this.within(vt, 4, `the vtable of ${what}`);
    const vtSize = this.view.getUint16(vt, true);
    const tableSize = this.view.getUint16(vt + 2, true);
    if (vtSize < 4 || vtSize % 2 !== 0) this.fail(`the vtable of ${what} has a bad size ${vtSize}`);
    this.within(vt, vtSize, `the vtable of ${what}`);
    if (tableSize < 4) this.fail(`${what} has a bad size ${tableSize}`);
    this.within(t, tableSize, what);
    return t;
  }

  /** Position of field `slot` of the table at `t`, checked to hold `size` bytes; 0 when absent. */
  field(t: number, slot: number, size: number): number {
    const vt = t - this.view.getInt32(t, true);
    const vtSize = this.view.getUint16(vt, true);
    const entry = 4 + 2 * slot;
    if (entry + 2 > vtSize) return 0;
    const off = this.view.getUint16(vt + entry, true);
    if (off === 0) return 0;
    const tableSize = this.view.getUint16(vt + 2, true);
    if (off + size > tableSize) this.fail(`field ${slot} runs past its table`);
    return t + off;
  }

  /** Follows the offset stored in field `slot` (a table, vector or string); 0 when absent. */
  private target(t: number, slot: number): number {
    const at = this.field(t, slot, 4);
    if (at === 0) return 0;
    return at + this.view.getUint32(at, true);
  }

  /** The table referenced by field `slot`, checked; 0 when absent. */
  childTable(t: number, slot: number, what: string): number {
    const at = this.target(t, slot);
    return at === 0 ? 0 : this.table(at, what);
  }

  /** The vector referenced by field `slot`, checked for `elementSize`-byte elements; its [start, length] or undefined. */
  vector(t: number, slot: number, elementSize: number, what: string): [number, number] | undefined {
    const at = this.target(t, slot);
    if (at === 0) return undefined;
    this.within(at, 4, what);
    const length = this.view.getUint32(at, true);
    this.within(at + 4, length * elementSize, `${what} of ${length} elements`);
    this.count(elementSize >= 4 ? length : Math.ceil(length / 4));
    return [at + 4, length];
  }

  /** A string field (bytes and a terminating NUL inside the message). */
  string(t: number, slot: number, what: string): void {
    const v = this.vector(t, slot, 1, what);
    if (v !== undefined) this.within(v[0] + v[1], 1, `the end of ${what}`);
  }

  /** The tables of a vector of tables. */
  tables(t: number, slot: number, what: string): number[] {
    const v = this.vector(t, slot, 4, what);
    if (v === undefined) return [];
    const out: number[] = [];
    for (let i = 0; i < v[1]; i++) {
      const at = v[0] + 4 * i;
      out.push(this.table(at + this.view.getUint32(at, true), `${what}[${i}]`));
    }
    return out;
  }

  u8(t: number, slot: number): number {
    const at = this.field(t, slot, 1);
    return at === 0 ? 0 : this.b[at];
  }

  keyValues(t: number, slot: number, what: string): void {
    for (const kv of this.tables(t, slot, what)) {
      this.string(kv, 0, `a key of ${what}`);
      this.string(kv, 1, `a value of ${what}`);
    }
  }

  schema(s: number): void {
    for (const f of this.tables(s, 1, 'the schema fields')) this.fieldTable(f, 1);
    this.keyValues(s, 2, 'the schema metadata');
    this.vector(s, 3, 8, 'the schema features');
  }

  private fieldTable(f: number, depth: number): void {
    if (depth > MAX_DEPTH) this.fail(`fields nested deeper than ${MAX_DEPTH}`);
    this.string(f, 0, 'a field name');
    const typeId = this.u8(f, 2);
    const type = this.childTable(f, 3, 'a field type');
    if (type !== 0) {
      if (typeId === TypeId.Timestamp) this.string(type, 1, 'a timestamp time zone');
      if (typeId === TypeId.Union) this.vector(type, 1, 4, 'the type ids of a union');
    }
    const dict = this.childTable(f, 4, 'a dictionary encoding');
    if (dict !== 0) this.childTable(dict, 1, 'a dictionary index type');
    for (const c of this.tables(f, 5, 'the children of a field')) this.fieldTable(c, depth + 1);
    this.keyValues(f, 6, 'the field metadata');
  }

  recordBatch(r: number): void {
    this.vector(r, 1, 16, 'the field nodes');
    this.vector(r, 2, 16, 'the buffers');
    this.childTable(r, 3, 'the compression');
    this.vector(r, 4, 8, 'the variadic buffer counts');
  }
}

/**
 * Checks that an Arrow IPC Message flatbuffer (no continuation prefix) can be
 * decoded safely: every table, string and vector within the message, nesting
 * and object counts bounded.
 * @throws HarmonicsError `ERR_PROTOCOL` naming what is out of bounds.
 */
export function verifyIpcMessage(message: Uint8Array, what: string): void {
  const v = new Verifier(message, what);
  const root = v.root();
  v.keyValues(root, 4, 'the message metadata');
  const headerType = v.u8(root, 1);
  const header = v.childTable(root, 2, 'the message header');
  if (header === 0) return; // apache-arrow reports a missing header itself
  if (headerType === Header.Schema) v.schema(header);
  else if (headerType === Header.RecordBatch) v.recordBatch(header);
  else if (headerType === Header.DictionaryBatch) {
    const data = v.childTable(header, 1, 'the dictionary batch data');
    if (data !== 0) v.recordBatch(data);
  }
}
