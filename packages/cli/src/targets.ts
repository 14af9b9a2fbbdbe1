// What a TARGET on the command line names, and how to read or write it:
// a file in one of the formats (by extension, else by its first bytes), or
// any @harmonics/url target (tcp:…, grpc://…, ws://…, flight://…, nats://…, file:…).
import { type FileHandle, open as fsOpen } from 'node:fs/promises';
import { type AbortOptions, type Consumer, type Producer, type Tensor, HarmonicsError } from '@harmonics/core';
import {
  NpzConsumer,
  type RandomAccessSource,
  fileSink,
  fileSource,
  openNpz,
  openSafetensors,
  readNpy,
  writeNpy,
  writeSafetensors,
} from '@harmonics/formats';
import { FileProducer, decodeNamedWeights, decodeWeights, encodeNamedWeights, encodeWeights } from '@harmonics/transport-file';
import { makeConsumer, makeProducer } from '@harmonics/url';

export type Kind = 'safetensors' | 'npy' | 'npz' | 'hwts' | 'hnwt' | 'records' | 'url';

/** A file path, or the path of a `file:` target without parameters. */
function pathOf(target: string): string | undefined {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(target);
  if (m === null || target.startsWith('file:')) {
    const path = target.startsWith('file://') ? target.slice(7) : target.startsWith('file:') ? target.slice(5) : target;
    return path.includes('?') ? undefined : path;
  }
  if (m[1].length === 1) return target; // C:\… on Windows
  return undefined;
}

/** Open a file; a failure is `ERR_CONNECT` naming the file and the system's reason, as transport-file reports it. */
async function open(path: string, flags = 'r'): Promise<FileHandle> {
  try {
    return await fsOpen(path, flags);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    throw new HarmonicsError(
      'ERR_CONNECT',
      `cannot open ${JSON.stringify(path)} for ${flags === 'r' ? 'reading' : 'writing'}: ${code} (${(cause as Error).message})`,
      { cause },
    );
  }
}

const EXTENSIONS: Record<string, Kind> = { safetensors: 'safetensors', npy: 'npy', npz: 'npz', hwts: 'hwts', hnwt: 'hnwt' };

/** The kind of a target, sniffing a file's first bytes when its extension does not say. */
export async function kindOf(target: string, forWriting = false): Promise<Kind> {
  const path = pathOf(target);
  if (path === undefined) return 'url';
  const ext = /\.([a-z]+)$/i.exec(path)?.[1]?.toLowerCase();
  if (ext !== undefined && ext in EXTENSIONS) return EXTENSIONS[ext];
  if (forWriting) return 'records';
  let head = new Uint8Array(9);
  const fh = await open(path);
  try {
    const { bytesRead } = await fh.read(head, 0, 9, 0);
    head = head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  const magic = String.fromCharCode(...head.subarray(0, 4));
  if (magic === 'HWTS') return 'hwts';
  if (magic === 'HNWT') return 'hnwt';
  if (magic === '\x93NUM') return 'npy';
  if (magic === 'PK\x03\x04') return 'npz';
  // safetensors without its extension: a little-endian u64 header length, then '{'.
  if (head.byteLength === 9 && head[8] === 0x7b && head[6] === 0 && head[7] === 0) return 'safetensors';
  return 'records';
}

/** A stream of tensors with names where the source has them. */
export interface Input {
  kind: Kind;
  producer: Producer;
  /** The name of the tensor `producer.next()` last returned (`undefined` for unnamed streams). */
  name(): string | undefined;
  /** Tensors, when known up front. */
  count?: number;
  /** Bytes of tensor data, when known up front. */
  bytes?: number;
  close(): Promise<void>;
}

/** Yields a fixed list of tensors (files read whole). */
class ListProducer implements Producer {
  private i = 0;
  constructor(readonly list: { name: string | undefined; tensor: Tensor }[]) {}
  get size(): number {
    return this.list.length;
  }
  get current(): string | undefined {
    return this.list[this.i - 1]?.name;
  }
  next(): Promise<Tensor | undefined> {
    return Promise.resolve(this.list[this.i++]?.tensor);
  }
  close(): Promise<void> {
    this.i = this.list.length;
    return Promise.resolve();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Tensor> {
    for (let t = await this.next(); t !== undefined; t = await this.next()) yield t;
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function listInput(kind: Kind, list: { name: string | undefined; tensor: Tensor }[]): Input {
  const p = new ListProducer(list);
  return {
    kind,
    producer: p,
    name: () => p.current,
    count: list.length,
    bytes: list.reduce((n, x) => n + x.tensor.data.byteLength, 0),
    close: () => p.close(),
  };
}

/** Open a file as a source and read its header with `parse`; the file is closed if that fails. */
async function opening<T>(path: string, parse: (src: RandomAccessSource) => Promise<T>): Promise<T> {
  const src = await fileSource(await open(path));
  try {
    return await parse(src);
  } catch (err) {
    await src.close!();
    throw err;
  }
}

async function readWhole(path: string): Promise<Uint8Array> {
  const fh = await open(path);
  try {
    return new Uint8Array(await fh.readFile());
  } finally {
    await fh.close();
  }
}

/** Open TARGET for reading. */
export async function openInput(target: string, options: { voidDType?: 'bfloat16' } = {}): Promise<Input> {
  const kind = await kindOf(target);
  const path = pathOf(target)!;
  switch (kind) {
    case 'safetensors': {
      const file = await opening(path, (src) => openSafetensors(src));
      const p = file.producer();
      return {
        kind,
        producer: p,
        name: () => p.name,
        count: p.size,
        bytes: file.entries.reduce((n, e) => n + e.byteLength, 0),
        close: () => file.close(),
      };
    }
    case 'npz': {
      const file = await opening(path, (src) => openNpz(src, options));
      const p = file.producer();
      return { kind, producer: p, name: () => p.name, count: p.size, close: () => file.close() };
    }
    case 'npy': {
      const src = await fileSource(await open(path));
      try {
        return listInput(kind, [{ name: undefined, tensor: await readNpy(src, options) }]);
      } finally {
        await src.close!();
      }
    }
    case 'hwts':
      return listInput(
        kind,
        decodeWeights(await readWhole(path), path).map((tensor) => ({ name: undefined, tensor })),
      );
    case 'hnwt':
      return listInput(
        kind,
        [...decodeNamedWeights(await readWhole(path), path)].map(([name, tensor]) => ({ name, tensor })),
      );
    case 'records': {
      // Its size (the number of records) is known after the first next().
      const p = new FileProducer(path);
      return { kind, producer: p, name: () => undefined, close: () => p.close() };
    }
    default: {
      const p = await makeProducer(target);
      return { kind, producer: p, name: () => undefined, count: p.size, close: () => p.close() };
    }
  }
}

/** A place to write tensors, each with its name (or none). */
export interface Output {
  kind: Kind;
  push(t: Tensor, name: string | undefined, options?: AbortOptions): Promise<void>;
  close(): Promise<void>;
}

/** Where a stream without names gets them: `arr_0`, `arr_1`…, as np.savez names positional arrays. */
function nameFor(name: string | undefined, index: number, seen: Set<string>): string {
  let n = name ?? `arr_${index}`;
  while (seen.has(n)) n = `${n}_${index}`;
  seen.add(n);
  return n;
}

/** Collects tensors, then writes the file at close (formats whose header lists every tensor). */
function collecting(kind: Kind, write: (list: [string, Tensor][]) => Promise<void>): Output {
  const list: [string, Tensor][] = [];
  const seen = new Set<string>();
  return {
    kind,
    push: (t, name) => {
      list.push([nameFor(name, list.length, seen), t]);
      return Promise.resolve();
    },
    close: () => write(list),
  };
}

/** Open TARGET for writing. */
export async function openOutput(target: string): Promise<Output> {
  const kind = await kindOf(target, true);
  const path = pathOf(target)!;
  switch (kind) {
    case 'safetensors':
      return collecting(kind, async (list) => writeSafetensors(fileSink(await open(path, 'w')), new Map(list)));
    case 'hnwt':
      return collecting(kind, async (list) => writeAll(path, encodeNamedWeights(new Map(list))));
    case 'hwts':
      return collecting(kind, async (list) => writeAll(path, encodeWeights(list.map(([, t]) => t))));
    case 'npy': {
      let one: Tensor | undefined;
      return {
        kind,
        push: (t) => {
          if (one !== undefined) {
            return Promise.reject(
              new HarmonicsError('ERR_INVALID_ARGUMENT', `${path}: a .npy file holds one array; write several to an .npz instead`),
            );
          }
          one = t;
          return Promise.resolve();
        },
        close: async () => {
          if (one === undefined) throw new HarmonicsError('ERR_INVALID_ARGUMENT', `${path}: no tensor arrived, and a .npy file holds exactly one`);
          await writeNpy(fileSink(await open(path, 'w')), one);
        },
      };
    }
    case 'npz': {
      const c = new NpzConsumer(fileSink(await open(path, 'w')));
      const seen = new Set<string>();
      let i = 0;
      return { kind, push: (t, name, o) => c.push(t, { ...o, name: nameFor(name, i++, seen) }), close: () => c.close() };
    }
    default: {
      const c: Consumer = await makeConsumer(kind === 'records' && !target.startsWith('file:') ? `file:${target}` : target);
      return { kind, push: (t, _name, o) => c.push(t, o), close: () => c.close() };
    }
  }
}

async function writeAll(path: string, bytes: Uint8Array): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(bytes);
  } finally {
    await fh.close();
  }
}
