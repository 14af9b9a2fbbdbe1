// safetensors (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON, then the tensors' bytes.
// The JSON maps each name to {dtype, shape, data_offsets: [begin, end]}
// (offsets relative to the byte after the header); "__metadata__" holds
// string-to-string metadata.
import { type AbortOptions, type DType, type Tensor, BaseConsumer, HarmonicsError, dtypeInfo, elementCount } from '@harmonics/core';
import { closedError, invalidArgument, throwIfAborted } from '@harmonics/internal';
import { bytesOf, decodeUtf8, encodeUtf8, entriesOf, tensorFromBytes } from './bytes.js';
import { NamedProducer } from './named-producer.js';
import type { ByteSink } from './sink.js';
import type { RandomAccessSource } from './source.js';

/** The safetensors dtype names and the dtypes they map to. */
export const SAFETENSORS_DTYPES: Readonly<Record<string, DType>> = /* @__PURE__ */ Object.freeze({
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U64: 'uint64',
  U32: 'uint32',
  U16: 'uint16',
  U8: 'uint8',
  BOOL: 'bool',
});

const TO_SAFETENSORS: Readonly<Record<DType, string>> = /* @__PURE__ */ (() =>
  Object.fromEntries(Object.entries(SAFETENSORS_DTYPES).map(([k, v]) => [v, k])) as Record<DType, string>)();

/** Largest header read by default (the Rust reference's limit): 100 MB. */
export const DEFAULT_MAX_HEADER_BYTES = 100_000_000;

/** One tensor of a safetensors file, as its header describes it. */
export interface SafetensorsEntry {
  readonly name: string;
  /** Our dtype, or `undefined` for a dtype we do not read (F8_E4M3, say): reading it is `ERR_BAD_DTYPE`. */
  readonly dtype: DType | undefined;
  /** The dtype as the file spells it (`F32`, `BF16`, `F8_E4M3`…). */
  readonly fileDType: string;
  readonly shape: readonly number[];
  /** Where its bytes start, from the start of the file. */
  readonly offset: number;
  readonly byteLength: number;
}

/** A parsed header: the entries in file order and the metadata. */
export interface SafetensorsHeader {
  readonly entries: readonly SafetensorsEntry[];
  /** `__metadata__`, when the file has one. */
  readonly metadata: Readonly<Record<string, string>> | undefined;
  /** Where the tensors' bytes start: 8 + the header length. */
  readonly dataOffset: number;
}

const WHAT = 'the safetensors header';

/**
 * Parse and check a header's JSON (the bytes after the 8-byte length).
 * `fileSize` bounds the offsets; nothing is allocated by declared sizes.
 *
 * @throws HarmonicsError `ERR_BAD_MAGIC` when it is not a JSON object;
 *   `ERR_PROTOCOL` for bad JSON, fields or overlapping offsets;
 *   `ERR_BAD_SHAPE` when a shape disagrees with its byte range;
 *   `ERR_TRUNCATED` when an offset is past the end of the file.
 */
export function parseSafetensorsHeader(json: Uint8Array, fileSize: number): SafetensorsHeader {
  const dataOffset = 8 + json.byteLength;
  const text = decodeUtf8(json, WHAT);
  if (!text.startsWith('{')) {
    const seen = JSON.stringify(text.slice(0, 16));
    throw new HarmonicsError('ERR_BAD_MAGIC', `${WHAT} does not start with "{" (found ${seen}); is it a safetensors file?`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new HarmonicsError('ERR_PROTOCOL', `${WHAT} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HarmonicsError('ERR_BAD_MAGIC', `${WHAT} is not a JSON object; is it a safetensors file?`);
  }
  const dataSize = fileSize - dataOffset;
  let metadata: Record<string, string> | undefined;
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(value, (m) => new HarmonicsError('ERR_PROTOCOL', `${WHAT}: __metadata__ ${m}`));
      continue;
    }
    entries.push(parseEntry(name, value, dataOffset, dataSize));
  }
  entries.sort((a, b) => a.offset - b.offset || a.byteLength - b.byteLength);
  for (let i = 1; i < entries.length; i++) {
    const prev = entries[i - 1];
    if (entries[i].offset < prev.offset + prev.byteLength) {
      throw new HarmonicsError(
        'ERR_PROTOCOL',
        `${WHAT}: tensors ${JSON.stringify(prev.name)} and ${JSON.stringify(entries[i].name)} overlap (bytes ${prev.offset - dataOffset}…${prev.offset - dataOffset + prev.byteLength} and ${entries[i].offset - dataOffset}…); the file is corrupt`,
      );
    }
  }
  return { entries, metadata, dataOffset };
}

function checkMetadata(value: unknown, fail: (m: string) => HarmonicsError): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail('must be an object of strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw fail(`value ${JSON.stringify(k)} is ${JSON.stringify(v)}; safetensors metadata values are strings`);
    out[k] = v;
  }
  return out;
}

function parseEntry(name: string, value: unknown, dataOffset: number, dataSize: number): SafetensorsEntry {
  const bad = (m: string) => new HarmonicsError('ERR_PROTOCOL', `${WHAT}: tensor ${JSON.stringify(name)} ${m}`);
  if (typeof value !== 'object' || value === null) throw bad('is not an object');
  const { dtype: fileDType, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof fileDType !== 'string') throw bad('has no "dtype" string');
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw bad(`has shape ${JSON.stringify(shape)}; a shape is a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
    throw bad(`has data_offsets ${JSON.stringify(offsets)}; expected [begin, end]`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw bad(`has data_offsets [${begin}, ${end}], which end before they begin`);
  if (end > dataSize) {
    throw new HarmonicsError(
      'ERR_TRUNCATED',
      `${WHAT}: tensor ${JSON.stringify(name)} ends at data byte ${end}, but the file has ${Math.max(0, dataSize)} bytes of data; the file is cut short or its header is wrong`,
    );
  }
  const dtype = SAFETENSORS_DTYPES[fileDType] as DType | undefined;
  let count: number;
  try {
    count = elementCount(shape as number[]);
  } catch (cause) {
    throw new HarmonicsError('ERR_BAD_SHAPE', `${WHAT}: tensor ${JSON.stringify(name)}: ${(cause as Error).message}`, { cause });
  }
  const itemSize = dtype !== undefined ? dtypeInfo(dtype).size : fileDType.startsWith('F8') ? 1 : undefined;
  if (itemSize !== undefined && count * itemSize !== end - begin) {
    throw new HarmonicsError(
      'ERR_BAD_SHAPE',
      `${WHAT}: tensor ${JSON.stringify(name)} is ${fileDType} [${shape.join(', ')}] (${count * itemSize} bytes) but data_offsets [${begin}, ${end}] hold ${end - begin}`,
    );
  }
  return { name, dtype, fileDType, shape: shape as number[], offset: dataOffset + begin, byteLength: end - begin };
}

/** Options of {@link openSafetensors}. */
export interface OpenSafetensorsOptions extends AbortOptions {
  /** Refuse headers longer than this (`ERR_TOO_LARGE`). Default {@link DEFAULT_MAX_HEADER_BYTES}. */
  maxHeaderBytes?: number;
}

/**
 * Open a safetensors file: reads its header only (two small reads, or one
 * for an {@link httpSource} whose first request covers it).
 *
 * @throws HarmonicsError `ERR_TRUNCATED` for a file shorter than its header
 *   says; `ERR_TOO_LARGE` for a header over `maxHeaderBytes`; the errors of
 *   {@link parseSafetensorsHeader}.
 */
export async function openSafetensors(source: RandomAccessSource, options: OpenSafetensorsOptions = {}): Promise<SafetensorsFile> {
  const max = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (source.size < 8) {
    throw new HarmonicsError('ERR_TRUNCATED', `a safetensors file starts with an 8-byte header length; this one is ${source.size} bytes`);
  }
  const lenBytes = await source.read(0, 8, options);
  const view = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(max)) {
    throw new HarmonicsError(
      'ERR_TOO_LARGE',
      `${WHAT} declares ${n} bytes, over maxHeaderBytes (${max}); is it a safetensors file? Raise maxHeaderBytes if so`,
    );
  }
  const headerLength = Number(n);
  if (8 + headerLength > source.size) {
    throw new HarmonicsError(
      'ERR_TRUNCATED',
      `${WHAT} declares ${headerLength} bytes, but the file has ${source.size - 8} after its length; the file is cut short`,
    );
  }
  const json = await source.read(8, headerLength, options);
  return new SafetensorsFile(source, parseSafetensorsHeader(json, source.size));
}

/** Options of {@link SafetensorsFile.readMany}. */
export interface ReadManyOptions extends AbortOptions {
  /** Tensors next to each other in the file are read together, up to this many bytes per read. Default 64 MiB. */
  maxCoalesceBytes?: number;
}

/**
 * An open safetensors file: its entries and metadata, and reads of the
 * tensors you name. Each read touches only that tensor's bytes.
 */
export class SafetensorsFile implements AsyncIterable<[string, Tensor]>, AsyncDisposable {
  /** Entries in file order. */
  readonly entries: readonly SafetensorsEntry[];
  /** `__metadata__`, when the file has one. */
  readonly metadata: Readonly<Record<string, string>> | undefined;
  private readonly byName: ReadonlyMap<string, SafetensorsEntry>;
  private closed = false;

  /** Use {@link openSafetensors}. */
  constructor(
    readonly source: RandomAccessSource,
    header: SafetensorsHeader,
  ) {
    this.entries = header.entries;
    this.metadata = header.metadata;
    this.byName = new Map(header.entries.map((e) => [e.name, e]));
  }

  /** Names in file order. */
  get names(): string[] {
    return this.entries.map((e) => e.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** @throws HarmonicsError `ERR_INVALID_ARGUMENT` for a name the file does not have. */
  entry(name: string): SafetensorsEntry {
    const e = this.byName.get(name);
    if (e === undefined) {
      const some = this.entries.slice(0, 8).map((x) => JSON.stringify(x.name));
      throw invalidArgument(
        `the safetensors file has no tensor ${JSON.stringify(name)}; it has ${this.entries.length}${some.length > 0 ? `: ${some.join(', ')}${this.entries.length > 8 ? ', …' : ''}` : ''}`,
      );
    }
    return e;
  }

  /**
   * Read one tensor by name.
   * @throws HarmonicsError `ERR_BAD_DTYPE` for a dtype we do not read, naming it.
   */
  async read(name: string, options?: AbortOptions): Promise<Tensor> {
    const e = this.readable(name);
    return tensorFromBytes(e.dtype!, e.shape, await this.source.read(e.offset, e.byteLength, options), `tensor ${JSON.stringify(name)}`);
  }

  /** Read the named tensors; neighbours in the file are read together, and nothing between them is. */
  async readMany(names: Iterable<string>, options: ReadManyOptions = {}): Promise<Map<string, Tensor>> {
    const maxCoalesce = options.maxCoalesceBytes ?? 64 * 1024 * 1024;
    const wanted = [...new Set(names)].map((n) => this.readable(n)).sort((a, b) => a.offset - b.offset);
    const out = new Map<string, Tensor>();
    for (let i = 0; i < wanted.length;) {
      let j = i + 1;
      let end = wanted[i].offset + wanted[i].byteLength;
      while (j < wanted.length && wanted[j].offset === end && end + wanted[j].byteLength - wanted[i].offset <= maxCoalesce) {
        end += wanted[j].byteLength;
        j++;
      }
      throwIfAborted(options.signal, 'readMany');
      const bytes = await this.source.read(wanted[i].offset, end - wanted[i].offset, options);
      for (let k = i; k < j; k++) {
        const e = wanted[k];
        const at = e.offset - wanted[i].offset;
        out.set(e.name, tensorFromBytes(e.dtype!, e.shape, bytes.subarray(at, at + e.byteLength), `tensor ${JSON.stringify(e.name)}`));
      }
      i = j;
    }
    // In the order asked for.
    return new Map([...new Set(names)].map((n) => [n, out.get(n)!]));
  }

  /**
   * The tensors as a `Producer`, in file order (or the order of
   * `names`), one read per tensor: memory stays at one tensor whatever the
   * file's size. `producer.name` is the name of the tensor last returned.
   */
  producer(options: { names?: readonly string[] } = {}): NamedProducer {
    const names = options.names ?? this.names;
    for (const n of names) this.entry(n);
    return new NamedProducer(names, (name, opts) => this.read(name, opts));
  }

  /** `for await (const [name, tensor] of file)`: every tensor, in file order. */
  async *[Symbol.asyncIterator](): AsyncIterator<[string, Tensor]> {
    for (const e of this.entries) yield [e.name, await this.read(e.name)];
  }

  /** Close the source. */
  async close(): Promise<void> {
    this.closed = true;
    await this.source.close?.();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private readable(name: string): SafetensorsEntry {
    if (this.closed) throw closedError('the safetensors file');
    const e = this.entry(name);
    if (e.dtype === undefined) {
      throw new HarmonicsError(
        'ERR_BAD_DTYPE',
        `tensor ${JSON.stringify(name)} is ${e.fileDType}, which Harmonics does not read; it reads ${Object.keys(SAFETENSORS_DTYPES).join(', ')}`,
      );
    }
    return e;
  }
}

/** Name, dtype and shape of a tensor to write. */
export interface SafetensorsEntryInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/** Options of the safetensors writers. */
export interface WriteSafetensorsOptions extends AbortOptions {
  /** `__metadata__`: strings only, as the format requires. */
  metadata?: Readonly<Record<string, string>>;
}

/**
 * The first bytes of a safetensors file holding `entries` in that order:
 * the 8-byte length and the JSON, padded with spaces to a multiple of 8 so
 * that every tensor is aligned.
 * @throws HarmonicsError `ERR_INVALID_ARGUMENT` for a repeated or reserved name or non-string metadata.
 */
export function safetensorsHeader(entries: readonly SafetensorsEntryInfo[], metadata?: Readonly<Record<string, string>>): Uint8Array {
  const json: Record<string, unknown> = {};
  if (metadata !== undefined) json.__metadata__ = checkMetadata(metadata, (m) => invalidArgument(`metadata ${m}`));
  let offset = 0;
  for (const e of entries) {
    if (e.name === '__metadata__') throw invalidArgument(`"__metadata__" is reserved in safetensors; name the tensor otherwise`);
    if (Object.prototype.hasOwnProperty.call(json, e.name)) throw invalidArgument(`the name ${JSON.stringify(e.name)} appears twice`);
    const bytes = elementCount(e.shape) * dtypeInfo(e.dtype).size;
    json[e.name] = { dtype: TO_SAFETENSORS[e.dtype], shape: e.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const body = encodeUtf8(JSON.stringify(json));
  const padded = Math.ceil(body.byteLength / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20, 8 + body.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(body, 8);
  return out;
}

/**
 * Tensors in the order the writers put them in the file: by element size,
 * largest first (keeping the given order within a size), as the Rust
 * writer does, so that every tensor starts aligned for its dtype.
 */
function fileOrder(tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>): [string, Tensor][] {
  return entriesOf(tensors).sort(([, a], [, b]) => b.data.BYTES_PER_ELEMENT - a.data.BYTES_PER_ELEMENT);
}

/** A whole safetensors file in memory (tensors ordered by element size, largest first, so each is aligned). */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  options: WriteSafetensorsOptions = {},
): Uint8Array {
  const list = fileOrder(tensors);
  const header = safetensorsHeader(
    list.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })),
    options.metadata,
  );
  const total = header.byteLength + list.reduce((n, [, t]) => n + t.data.byteLength, 0);
  const out = new Uint8Array(total);
  out.set(header);
  let o = header.byteLength;
  for (const [, t] of list) {
    out.set(bytesOf(t), o);
    o += t.data.byteLength;
  }
  return out;
}

/** Write a safetensors file to `sink`, one tensor at a time (in the order of {@link encodeSafetensors}), then close the sink. */
export async function writeSafetensors(
  sink: ByteSink,
  tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  options: WriteSafetensorsOptions = {},
): Promise<void> {
  const list = fileOrder(tensors);
  const consumer = new SafetensorsConsumer(
    sink,
    list.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })),
    options,
  );
  try {
    for (const [, t] of list) await consumer.push(t, options);
  } catch (err) {
    await sink.close().catch(() => {});
    throw err;
  }
  await consumer.close();
}

/**
 * A `Consumer` that streams a safetensors file whose entries are known
 * up front: the header goes out first, then each pushed tensor's bytes,
 * which must come in the order of `entries` with their dtype and shape.
 * Memory stays at one tensor, whatever the file's size.
 */
export class SafetensorsConsumer extends BaseConsumer {
  private index = 0;
  private headerWritten = false;
  private closing: Promise<void> | undefined;
  private readonly header: Uint8Array;

  /** @throws HarmonicsError `ERR_INVALID_ARGUMENT` as {@link safetensorsHeader}. */
  constructor(
    private readonly sink: ByteSink,
    private readonly entries: readonly SafetensorsEntryInfo[],
    options: WriteSafetensorsOptions = {},
  ) {
    super();
    this.header = safetensorsHeader(entries, options.metadata);
  }

  /** @throws HarmonicsError `ERR_INVALID_ARGUMENT` for a tensor past the last entry or unlike the next one. */
  async push(t: Tensor, options?: AbortOptions): Promise<void> {
    if (this.closing !== undefined) throw closedError('the safetensors writer');
    const e = this.entries[this.index];
    if (e === undefined) throw invalidArgument(`the safetensors header lists ${this.entries.length} tensors; this is one more`);
    if (t.dtype !== e.dtype || t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
      throw invalidArgument(
        `tensor ${this.index} should be ${JSON.stringify(e.name)}: ${e.dtype} [${e.shape.join(', ')}], but it is ${t.dtype} [${t.shape.join(', ')}]`,
      );
    }
    this.index++;
    await this.writeHeader(options);
    if (t.data.byteLength > 0) await this.sink.write(bytesOf(t), options);
  }

  /**
   * Close the sink. @throws HarmonicsError `ERR_PROTOCOL` when fewer tensors
   * were pushed than the header lists (the file is incomplete).
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        if (this.index === this.entries.length) await this.writeHeader();
      } finally {
        await this.sink.close();
      }
      if (this.index < this.entries.length) {
        throw new HarmonicsError(
          'ERR_PROTOCOL',
          `the safetensors writer closed after ${this.index} of ${this.entries.length} tensors (next: ${JSON.stringify(this.entries[this.index].name)}); the file is incomplete`,
        );
      }
    })();
    return this.closing;
  }

  private async writeHeader(options?: AbortOptions): Promise<void> {
    if (this.headerWritten) return;
    this.headerWritten = true;
    await this.sink.write(this.header, options);
  }
}
