import { HarmonicsError, type Tensor, decodeTensor, encodeTensorParts } from '@harmonics/core';
import { readU32LE, writeU32LE } from '@harmonics/internal';
import { ioError, openFile, writeAll } from './file-io.js';

const HWTS = 'HWTS';
const HNWT = 'HNWT';
const VERSION = 1;
const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** The 12-byte container header: magic, u32 version, u32 count. */
function containerHeader(magic: string, count: number): Uint8Array {
  const h = new Uint8Array(12);
  h.set(utf8.encode(magic));
  writeU32LE(h, 4, VERSION);
  writeU32LE(h, 8, count);
  return h;
}

function checkHeader(bytes: Uint8Array, magic: string, what: string): number {
  if (bytes.length < 12) {
    if (bytes.length >= 4 && String.fromCharCode(...bytes.subarray(0, 4)) !== magic) badMagic(bytes, magic, what);
    throw new HarmonicsError('ERR_TRUNCATED', `${what} is ${bytes.length} bytes, shorter than its 12-byte header`);
  }
  if (String.fromCharCode(...bytes.subarray(0, 4)) !== magic) badMagic(bytes, magic, what);
  const version = readU32LE(bytes, 4);
  if (version !== VERSION) {
    throw new HarmonicsError('ERR_PROTOCOL', `${what} has container version ${version}; this library reads version ${VERSION}`);
  }
  return readU32LE(bytes, 8);
}

function badMagic(bytes: Uint8Array, magic: string, what: string): never {
  const seen = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new HarmonicsError('ERR_BAD_MAGIC', `${what} does not start with "${magic}" (found bytes ${seen}); is it the right kind of file?`);
}

/** Length of the record starting at `offset`, checked against the input; throws `ERR_TRUNCATED` when cut. */
function recordEnd(bytes: Uint8Array, offset: number, index: number, what: string): number {
  const cut = () => new HarmonicsError('ERR_TRUNCATED', `${what} ends inside record ${index} (at byte ${offset}); the file is cut short`);
  if (offset + 5 > bytes.length) throw cut();
  const ndim = readU32LE(bytes, offset + 1);
  const lengthAt = offset + 5 + 4 * Math.min(ndim, 33);
  if (lengthAt + 4 > bytes.length) {
    if (ndim > 32) return offset + 5; // let decodeTensor name the bad shape
    throw cut();
  }
  const end = lengthAt + 4 + readU32LE(bytes, lengthAt);
  if (end > bytes.length) throw cut();
  return end;
}

/**
 * The `HWTS` container for `tensors`: "HWTS", u32 version 1, u32 count, records.
 * One contiguous copy; {@link saveWeights} writes without concatenating.
 */
export function encodeWeights(tensors: readonly Tensor[]): Uint8Array {
  return concat(weightsParts(tensors));
}

/**
 * Decode an `HWTS` container. Tensors are views of `bytes` where their data is
 * aligned, copies otherwise.
 * @throws HarmonicsError `ERR_BAD_MAGIC`, `ERR_PROTOCOL` (version, trailing bytes), `ERR_TRUNCATED`, and record errors.
 */
export function decodeWeights(bytes: Uint8Array, what = 'weights container'): Tensor[] {
  const count = checkHeader(bytes, HWTS, what);
  const out: Tensor[] = [];
  let o = 12;
  for (let i = 0; i < count; i++) {
    const end = recordEnd(bytes, o, i, what);
    out.push(decodeTensor(bytes.subarray(o, end)));
    o = end;
  }
  if (o !== bytes.length) {
    throw new HarmonicsError('ERR_PROTOCOL', `${what} declares ${count} tensors but ${bytes.length - o} bytes follow them`);
  }
  return out;
}

/** The `HNWT` container: "HNWT", u32 version 1, u32 count, then (u32 length + UTF-8 name, record) pairs, in iteration order. */
export function encodeNamedWeights(entries: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>): Uint8Array {
  return concat(namedWeightsParts(entries));
}

/**
 * Decode an `HNWT` container into a Map in file order.
 * @throws HarmonicsError as {@link decodeWeights}; `ERR_PROTOCOL` for a name that is not UTF-8 or appears twice.
 */
export function decodeNamedWeights(bytes: Uint8Array, what = 'named weights container'): Map<string, Tensor> {
  const count = checkHeader(bytes, HNWT, what);
  const out = new Map<string, Tensor>();
  let o = 12;
  for (let i = 0; i < count; i++) {
    if (o + 4 > bytes.length) throw new HarmonicsError('ERR_TRUNCATED', `${what} ends inside the name of entry ${i} (at byte ${o})`);
    const nameLength = readU32LE(bytes, o);
    if (o + 4 + nameLength > bytes.length) {
      throw new HarmonicsError('ERR_TRUNCATED', `${what} ends inside the name of entry ${i} (at byte ${o})`);
    }
    let name: string;
    try {
      name = utf8Strict.decode(bytes.subarray(o + 4, o + 4 + nameLength));
    } catch (cause) {
      throw new HarmonicsError('ERR_PROTOCOL', `${what}: the name of entry ${i} is not valid UTF-8`, { cause });
    }
    if (out.has(name)) throw new HarmonicsError('ERR_PROTOCOL', `${what} has the name ${JSON.stringify(name)} twice`);
    o += 4 + nameLength;
    const end = recordEnd(bytes, o, i, what);
    out.set(name, decodeTensor(bytes.subarray(o, end)));
    o = end;
  }
  if (o !== bytes.length) {
    throw new HarmonicsError('ERR_PROTOCOL', `${what} declares ${count} entries but ${bytes.length - o} bytes follow them`);
  }
  return out;
}

function weightsParts(tensors: readonly Tensor[]): Uint8Array[] {
  const parts = [containerHeader(HWTS, tensors.length)];
  for (const t of tensors) parts.push(...encodeTensorParts(t));
  return parts;
}

function namedWeightsParts(entries: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>): Uint8Array[] {
  const list: [string, Tensor][] = entries instanceof Map ? [...entries] : Object.entries(entries);
  const parts = [containerHeader(HNWT, list.length)];
  for (const [name, t] of list) {
    const encoded = utf8.encode(name);
    const len = new Uint8Array(4);
    writeU32LE(len, 0, encoded.length);
    parts.push(len, encoded, ...encodeTensorParts(t));
  }
  return parts;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function writeParts(path: string, parts: Uint8Array[]): Promise<void> {
  const fh = await openFile(path, 'w', 'weights file');
  try {
    await writeAll(fh, parts);
  } catch (cause) {
    throw ioError(cause, 'writing', path);
  } finally {
    await fh.close();
  }
}

async function readAll(path: string): Promise<Uint8Array> {
  const fh = await openFile(path, 'r', 'weights file');
  try {
    const buf = await fh.readFile();
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (cause) {
    throw ioError(cause, 'reading', path);
  } finally {
    await fh.close();
  }
}

/** Write `tensors` as an `HWTS` file, byte-identical to the C++ `save_weights`. */
export async function saveWeights(path: string, tensors: readonly Tensor[]): Promise<void> {
  await writeParts(path, weightsParts(tensors));
}

/** Read an `HWTS` file (the C++ `load_weights`). See {@link decodeWeights} for errors. */
export async function loadWeights(path: string): Promise<Tensor[]> {
  return decodeWeights(await readAll(path), path);
}

/** Write an `HNWT` file (the C++ `save_named_weights`), entries in iteration order. */
export async function saveNamedWeights(path: string, entries: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>): Promise<void> {
  await writeParts(path, namedWeightsParts(entries));
}

/** Read an `HNWT` file into a Map in file order. See {@link decodeNamedWeights} for errors. */
export async function loadNamedWeights(path: string): Promise<Map<string, Tensor>> {
  return decodeNamedWeights(await readAll(path), path);
}
