// NumPy's .npz: a zip archive of .npy members, one per array, named
// NAME.npy (np.savez stores them, np.savez_compressed deflates them).
// Reading walks the zip's central directory (zip64 included, as np.savez
// writes it) and reads only the members asked for; fflate inflates them and
// writes archives.
import { type AbortOptions, type Tensor, BaseConsumer, HarmonicsError } from '@harmonics/core';
import { closedError, invalidArgument } from '@harmonics/internal';
import { Zip, ZipDeflate, ZipPassThrough, inflateSync } from 'fflate';
import { entriesOf } from './bytes.js';
import { NamedProducer } from './named-producer.js';
import { type ReadNpyOptions, decodeNpy, encodeNpy } from './npy.js';
import type { ByteSink } from './sink.js';
import type { RandomAccessSource } from './source.js';

/** One array of an .npz archive. */
export interface NpzEntry {
  /** The array's name: the member's name without `.npy`. */
  readonly name: string;
  /** The member's name in the zip. */
  readonly member: string;
  /** 0 stored, 8 deflated. */
  readonly method: number;
  readonly compressedSize: number;
  /** Size of the .npy member (header and data). */
  readonly size: number;
  readonly crc32: number;
  /** Where the member's local header starts. */
  readonly localOffset: number;
}

const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const EOCD64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const U32_MAX = 0xffffffff;

function zipError(m: string): HarmonicsError {
  return new HarmonicsError('ERR_PROTOCOL', `the .npz archive ${m}`);
}

function u64(view: DataView, at: number): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw zipError(`has a 64-bit field of ${v}, past what it can hold`);
  return Number(v);
}

/**
 * Open an .npz archive: reads its end record and central directory only.
 * @throws HarmonicsError `ERR_BAD_MAGIC` when it is not a zip archive;
 *   `ERR_PROTOCOL` for a damaged directory; `ERR_TRUNCATED` for a cut archive.
 */
export async function openNpz(source: RandomAccessSource, options: ReadNpyOptions = {}): Promise<NpzFile> {
  const tailLength = Math.min(source.size, 22 + 0xffff);
  if (source.size < 22)
    throw new HarmonicsError('ERR_BAD_MAGIC', `not an .npz (zip) archive: ${source.size} bytes is shorter than a zip's end record`);
  const tailStart = source.size - tailLength;
  const tail = await source.read(tailStart, tailLength, options);
  const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let at = -1;
  for (let i = tail.byteLength - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD) {
      at = i;
      break;
    }
  }
  if (at < 0) {
    if (tail[0] === 0x50 && tail[1] === 0x4b && tailStart === 0)
      throw new HarmonicsError('ERR_TRUNCATED', `the .npz archive has no end record; it is cut short`);
    throw new HarmonicsError('ERR_BAD_MAGIC', `not an .npz (zip) archive: no end-of-central-directory record`);
  }
  let count = tv.getUint16(at + 10, true);
  let cdSize = tv.getUint32(at + 12, true);
  let cdOffset = tv.getUint32(at + 16, true);
  if (count === 0xffff || cdSize === U32_MAX || cdOffset === U32_MAX) {
    // zip64: the locator sits just before the end record and points at the zip64 end record.
    if (at < 20 || tv.getUint32(at - 20, true) !== EOCD64_LOCATOR) throw zipError('needs a zip64 end record but has no locator');
    const e64 = u64(tv, at - 12);
    if (e64 + 56 > source.size) throw new HarmonicsError('ERR_TRUNCATED', `the .npz archive's zip64 end record is past its end`);
    const rec = await source.read(e64, 56, options);
    const rv = new DataView(rec.buffer, rec.byteOffset, 56);
    if (rv.getUint32(0, true) !== EOCD64) throw zipError('has a zip64 locator that points at no zip64 end record');
    count = u64(rv, 32);
    cdSize = u64(rv, 40);
    cdOffset = u64(rv, 48);
  }
  if (cdOffset + cdSize > source.size) {
    throw new HarmonicsError(
      'ERR_TRUNCATED',
      `the .npz archive's central directory (${cdSize} bytes at ${cdOffset}) is past its end (${source.size} bytes)`,
    );
  }
  const cd = await source.read(cdOffset, cdSize, options);
  const cv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const entries: NpzEntry[] = [];
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > cd.byteLength || cv.getUint32(p, true) !== CENTRAL) throw zipError(`central directory is damaged at entry ${n}`);
    const flags = cv.getUint16(p + 8, true);
    const method = cv.getUint16(p + 10, true);
    const crc32 = cv.getUint32(p + 16, true);
    let compressedSize = cv.getUint32(p + 20, true);
    let size = cv.getUint32(p + 24, true);
    const nameLen = cv.getUint16(p + 28, true);
    const extraLen = cv.getUint16(p + 30, true);
    const commentLen = cv.getUint16(p + 32, true);
    let localOffset = cv.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > cd.byteLength) throw zipError(`central directory is damaged at entry ${n}`);
    const nameBytes = cd.subarray(p + 46, p + 46 + nameLen);
    const member = flags & 0x800 ? new TextDecoder().decode(nameBytes) : String.fromCharCode(...nameBytes);
    // The zip64 extra field holds, in this order, whichever of the three sizes are 0xFFFFFFFF above.
    for (let x = p + 46 + nameLen, end = x + extraLen; x + 4 <= end;) {
      const id = cv.getUint16(x, true);
      const len = cv.getUint16(x + 2, true);
      if (id === 0x0001) {
        let f = x + 4;
        if (size === U32_MAX) {
          size = u64(cv, f);
          f += 8;
        }
        if (compressedSize === U32_MAX) {
          compressedSize = u64(cv, f);
          f += 8;
        }
        if (localOffset === U32_MAX) localOffset = u64(cv, f);
      }
      x += 4 + len;
    }
    p += 46 + nameLen + extraLen + commentLen;
    if (flags & 0x1) throw zipError(`member ${JSON.stringify(member)} is encrypted; Harmonics reads unencrypted archives`);
    if (member.endsWith('/')) continue; // a directory
    const name = member.endsWith('.npy') ? member.slice(0, -4) : member;
    entries.push({ name, member, method, compressedSize, size, crc32, localOffset });
  }
  return new NpzFile(source, entries, options);
}

/** An open .npz archive: the arrays' names, and reads of the ones you name. */
export class NpzFile implements AsyncIterable<[string, Tensor]>, AsyncDisposable {
  private readonly byName: ReadonlyMap<string, NpzEntry>;
  private closed = false;

  /** Use {@link openNpz}. */
  constructor(
    readonly source: RandomAccessSource,
    /** Members in the archive's order. */
    readonly entries: readonly NpzEntry[],
    private readonly options: ReadNpyOptions = {},
  ) {
    this.byName = new Map(entries.map((e) => [e.name, e]));
  }

  /** Array names in the archive's order (`np.savez(f, a=…, b=…)` gives `a`, `b`; positional arrays are `arr_0`…). */
  get names(): string[] {
    return this.entries.map((e) => e.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** @throws HarmonicsError `ERR_INVALID_ARGUMENT` for a name the archive does not have. */
  entry(name: string): NpzEntry {
    const e = this.byName.get(name);
    if (e === undefined)
      throw invalidArgument(`the .npz archive has no array ${JSON.stringify(name)}; it has ${this.names.map((n) => JSON.stringify(n)).join(', ')}`);
    return e;
  }

  /**
   * Read one array: its member's bytes only, inflated if deflated, CRC-checked.
   * @throws HarmonicsError `ERR_PROTOCOL` for a damaged member or CRC mismatch;
   *   the errors of {@link decodeNpy}.
   */
  async read(name: string, options?: AbortOptions): Promise<Tensor> {
    if (this.closed) throw closedError('the .npz archive');
    const e = this.entry(name);
    if (e.method !== 0 && e.method !== 8)
      throw zipError(`member ${JSON.stringify(e.member)} uses compression method ${e.method}; Harmonics reads stored (0) and deflated (8) members`);
    // A deflate stream grows at most about 1032×: a bigger declared size is a lie, refused before it is allocated.
    if (e.method === 8 && e.size > e.compressedSize * 1032 + 1024)
      throw zipError(`member ${JSON.stringify(e.member)} declares ${e.size} bytes from ${e.compressedSize}; it is damaged`);
    if (e.method === 0 && e.size !== e.compressedSize) throw zipError(`member ${JSON.stringify(e.member)} is stored but its sizes differ`);
    const local = await this.source.read(e.localOffset, Math.min(30, this.source.size - e.localOffset), options);
    const lv = new DataView(local.buffer, local.byteOffset, local.byteLength);
    if (local.byteLength < 30 || lv.getUint32(0, true) !== LOCAL)
      throw zipError(`has no local header for ${JSON.stringify(e.member)} at ${e.localOffset}`);
    const dataStart = e.localOffset + 30 + lv.getUint16(26, true) + lv.getUint16(28, true);
    if (dataStart + e.compressedSize > this.source.size) {
      throw new HarmonicsError('ERR_TRUNCATED', `the .npz member ${JSON.stringify(e.member)} ends past the archive's end; it is cut short`);
    }
    const raw = await this.source.read(dataStart, e.compressedSize, options);
    let npy: Uint8Array;
    if (e.method === 0) npy = raw;
    else {
      try {
        npy = inflateSync(raw, { out: new Uint8Array(e.size) });
      } catch (cause) {
        throw zipError(`member ${JSON.stringify(e.member)} does not inflate: ${(cause as Error).message}`);
      }
      if (npy.byteLength !== e.size) throw zipError(`member ${JSON.stringify(e.member)} inflates to ${npy.byteLength} bytes, not ${e.size}`);
    }
    if (crc32(npy) !== e.crc32) throw zipError(`member ${JSON.stringify(e.member)} fails its CRC check; it is damaged`);
    try {
      return decodeNpy(npy, this.options);
    } catch (cause) {
      if (cause instanceof HarmonicsError) throw new HarmonicsError(cause.code, `.npz array ${JSON.stringify(name)}: ${cause.message}`, { cause });
      throw cause;
    }
  }

  /** Read the named arrays, in the order asked for. */
  async readMany(names: Iterable<string>, options?: AbortOptions): Promise<Map<string, Tensor>> {
    const out = new Map<string, Tensor>();
    for (const n of names) if (!out.has(n)) out.set(n, await this.read(n, options));
    return out;
  }

  /** The arrays as a `Producer`, in archive order (or that of `names`); `producer.name` names the last one returned. */
  producer(options: { names?: readonly string[] } = {}): NamedProducer {
    const names = options.names ?? this.names;
    for (const n of names) this.entry(n);
    return new NamedProducer(names, (name, opts) => this.read(name, opts));
  }

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
}

let CRC_TABLE: Uint32Array | undefined;
/** The zip CRC-32 (IEEE 802.3). */
export function crc32(bytes: Uint8Array): number {
  if (CRC_TABLE === undefined) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  const t = CRC_TABLE;
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Options of the .npz writers. */
export interface WriteNpzOptions extends AbortOptions {
  /** Deflate the members, as `np.savez_compressed` does. Default false (stored, as `np.savez`). */
  compress?: boolean;
  /** Deflate level 0–9 when compressing. Default 6. */
  level?: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
  /** Names for the pushed tensors of an {@link NpzConsumer}, in order; past them, `arr_N` as `np.savez` names positional arrays. */
  names?: readonly string[];
}

/**
 * A `Consumer` that writes an .npz archive: each pushed tensor becomes
 * a member, written as it comes. Members over 4 GiB are refused (the zip
 * writer has no zip64).
 */
export class NpzConsumer extends BaseConsumer {
  private readonly zip: Zip;
  private pending: Uint8Array[] = [];
  private failure: unknown;
  private index = 0;
  private readonly seen = new Set<string>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly sink: ByteSink,
    private readonly options: WriteNpzOptions = {},
  ) {
    super();
    this.zip = new Zip((err, chunk) => {
      if (err !== null) this.failure ??= err;
      else this.pending.push(chunk);
    });
  }

  /** Add a tensor, named by `name` or by the `names` option (`arr_N` past them). */
  async push(t: Tensor, options?: AbortOptions & { name?: string }): Promise<void> {
    if (this.closing !== undefined) throw closedError('the .npz writer');
    const name = options?.name ?? this.options.names?.[this.index] ?? `arr_${this.index}`;
    if (this.seen.has(name)) throw invalidArgument(`the .npz archive already has an array ${JSON.stringify(name)}`);
    const npy = encodeNpy(t);
    if (npy.byteLength >= U32_MAX)
      throw invalidArgument(`array ${JSON.stringify(name)} is ${npy.byteLength} bytes; .npz members are written up to 4 GiB`);
    this.seen.add(name);
    this.index++;
    const file =
      this.options.compress === true ? new ZipDeflate(`${name}.npy`, { level: this.options.level ?? 6 }) : new ZipPassThrough(`${name}.npy`);
    this.zip.add(file);
    file.push(npy, true);
    await this.flush(options);
  }

  /** Write the central directory and close the sink. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        this.zip.end();
        await this.flush();
      } finally {
        await this.sink.close();
      }
    })();
    return this.closing;
  }

  private async flush(options?: AbortOptions): Promise<void> {
    if (this.failure !== undefined)
      throw new HarmonicsError('ERR_PROTOCOL', `writing the .npz archive failed: ${String(this.failure)}`, { cause: this.failure });
    const chunks = this.pending;
    this.pending = [];
    for (const c of chunks) await this.sink.write(c, options);
  }
}

/** Write tensors to an .npz archive (named by the keys), then close the sink. */
export async function writeNpz(
  sink: ByteSink,
  tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  options: WriteNpzOptions = {},
): Promise<void> {
  const consumer = new NpzConsumer(sink, options);
  try {
    for (const [name, t] of entriesOf(tensors)) await consumer.push(t, { ...options, name });
  } catch (err) {
    await sink.close().catch(() => {});
    throw err;
  }
  await consumer.close();
}
