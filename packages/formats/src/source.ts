import { type AbortOptions, HarmonicsError } from '@harmonics/core';
import { checkPositive, invalidArgument, throwIfAborted } from '@harmonics/internal';

/**
 * Bytes that can be read at any offset: a file, a `Blob`, a URL served with
 * HTTP Range requests, or bytes in memory. Every reader in this package takes
 * one and reads only the bytes it needs.
 */
export interface RandomAccessSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Exactly `length` bytes from `offset`, in a `Uint8Array` the caller may keep.
   * @throws HarmonicsError `ERR_TRUNCATED` when the source ends first.
   */
  read(offset: number, length: number, options?: AbortOptions): Promise<Uint8Array>;
  /** Release what the source holds (a file handle). Optional; idempotent. */
  close?(): Promise<void>;
}

function checkRange(source: { size: number }, offset: number, length: number, what: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw invalidArgument(`${what}: read(${offset}, ${length}) needs a non-negative integer offset and length`);
  }
  if (offset + length > source.size) {
    throw new HarmonicsError(
      'ERR_TRUNCATED',
      `${what} is ${source.size} bytes; bytes ${offset}…${offset + length} are past its end (the file is cut short, or its header is wrong)`,
    );
  }
}

/** A source over bytes already in memory. `read()` returns views of them, without copying. */
export function bytesSource(bytes: Uint8Array): RandomAccessSource {
  if (!(bytes instanceof Uint8Array)) throw invalidArgument(`bytesSource() takes a Uint8Array`);
  return {
    size: bytes.byteLength,
    async read(offset, length, options) {
      throwIfAborted(options?.signal, 'read');
      checkRange({ size: bytes.byteLength }, offset, length, 'the bytes');
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** A source over a `Blob` or `File` (a browser's file picker, `fetch().blob()`, Node's `fs.openAsBlob`). */
export function blobSource(blob: Blob): RandomAccessSource {
  if (typeof blob?.slice !== 'function' || typeof blob.size !== 'number') throw invalidArgument(`blobSource() takes a Blob or File`);
  return {
    size: blob.size,
    async read(offset, length, options) {
      throwIfAborted(options?.signal, 'read');
      checkRange({ size: blob.size }, offset, length, 'the Blob');
      const bytes = new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
      if (bytes.byteLength !== length) {
        throw new HarmonicsError(
          'ERR_TRUNCATED',
          `the Blob gave ${bytes.byteLength} of ${length} bytes at ${offset}; did it change while being read?`,
        );
      }
      return bytes;
    },
  };
}

/**
 * What {@link fileSource} needs of a file handle: Node's `FileHandle` from
 * `fs.promises.open()` has it (no Node module is imported here).
 */
export interface FileHandleLike {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  stat(): Promise<{ size: number | bigint }>;
  close(): Promise<void>;
}

/**
 * A source over an open file: `fileSource(await fs.promises.open(path))`.
 * Each `read()` reads its range with positioned reads; closing the source
 * closes the handle.
 */
export async function fileSource(handle: FileHandleLike): Promise<RandomAccessSource> {
  if (typeof handle?.read !== 'function' || typeof handle.stat !== 'function') {
    throw invalidArgument(`fileSource() takes an open file handle (await fs.promises.open(path))`);
  }
  const size = Number((await handle.stat()).size);
  let closed: Promise<void> | undefined;
  return {
    size,
    async read(offset, length, options) {
      throwIfAborted(options?.signal, 'read');
      if (closed !== undefined) throw new HarmonicsError('ERR_CLOSED', `the file source is closed; open the file again to read it`);
      checkRange({ size }, offset, length, 'the file');
      const bytes = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(bytes, done, length - done, offset + done);
        if (bytesRead === 0) {
          throw new HarmonicsError(
            'ERR_TRUNCATED',
            `the file ended at byte ${offset + done}, before ${offset + length}; was it truncated while being read?`,
          );
        }
        done += bytesRead;
      }
      return bytes;
    },
    close() {
      closed ??= handle.close();
      return closed;
    },
  };
}

/** Options of {@link httpSource}. */
export interface HttpSourceOptions extends AbortOptions {
  /** Headers sent with every request (authorization, say). */
  headers?: Record<string, string>;
  /** The `fetch` to use; the global one by default. */
  fetch?: typeof fetch;
  /**
   * Bytes fetched by the first request, which also learns the size, and kept:
   * reads within them need no request. A safetensors or .npy header usually
   * fits in the default 64 KiB, so opening a file takes one request. 1 fetches
   * only the first byte.
   */
  prefetchBytes?: number;
}

/** What an {@link httpSource} requested, for logs and tests: one entry per HTTP request. */
export interface HttpSourceStats {
  requests: number;
  bytes: number;
}

/**
 * A source over a URL whose server answers HTTP Range requests (static file
 * servers, object stores, CDNs, Hugging Face's file URLs): each `read()` is
 * one `Range: bytes=a-b` request, so a reader fetches only the tensors it reads.
 *
 * @throws HarmonicsError `ERR_CONNECT` when the request fails; `ERR_PROTOCOL`
 *   for an error status, or a server that ignores `Range` and would send the
 *   whole file.
 */
export async function httpSource(
  url: string | URL,
  options: HttpSourceOptions = {},
): Promise<RandomAccessSource & { readonly stats: HttpSourceStats }> {
  const doFetch = options.fetch ?? globalThis.fetch;
  if (typeof doFetch !== 'function') throw invalidArgument(`httpSource() needs fetch: this runtime has none; pass options.fetch`);
  const prefetch = options.prefetchBytes ?? 64 * 1024;
  checkPositive('prefetchBytes', prefetch);
  const href = String(url);
  const stats: HttpSourceStats = { requests: 0, bytes: 0 };

  async function get(start: number, end: number, signal: AbortSignal | undefined): Promise<{ bytes: Uint8Array; total: number | undefined }> {
    let res: Response;
    stats.requests++;
    try {
      res = await doFetch(href, { headers: { ...options.headers, range: `bytes=${start}-${end}` }, signal });
    } catch (cause) {
      if (signal?.aborted === true) throw new HarmonicsError('ERR_ABORTED', `reading ${href} was aborted`, { cause: signal.reason });
      throw new HarmonicsError('ERR_CONNECT', `GET ${href} failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    }
    if (res.status === 416) {
      await res.body?.cancel();
      const total = parseTotal(res.headers.get('content-range'));
      return { bytes: new Uint8Array(0), total };
    }
    if (res.status !== 206) {
      await res.body?.cancel();
      if (res.status === 200) {
        throw new HarmonicsError(
          'ERR_PROTOCOL',
          `${href} answered a Range request with the whole file (200, not 206): the server does not support Range requests; download the file and use blobSource() or bytesSource()`,
        );
      }
      throw new HarmonicsError('ERR_PROTOCOL', `GET ${href} (bytes ${start}-${end}) answered ${res.status} ${res.statusText}`);
    }
    const range = res.headers.get('content-range');
    const m = range === null ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range.trim());
    if (m === null || Number(m[1]) !== start) {
      await res.body?.cancel();
      throw new HarmonicsError('ERR_PROTOCOL', `${href} answered bytes=${start}-${end} with Content-Range ${JSON.stringify(range)}`);
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    stats.bytes += bytes.byteLength;
    if (bytes.byteLength !== Number(m[2]) - start + 1) {
      throw new HarmonicsError('ERR_TRUNCATED', `${href} sent ${bytes.byteLength} bytes for the range ${m[1]}-${m[2]}; the connection was cut`);
    }
    return { bytes, total: m[3] === '*' ? undefined : Number(m[3]) };
  }

  const first = await get(0, prefetch - 1, options.signal);
  if (first.total === undefined) {
    throw new HarmonicsError('ERR_PROTOCOL', `${href} does not say its size in Content-Range; cannot read it by ranges`);
  }
  const size = first.total;
  const head = first.bytes;
  return {
    size,
    stats,
    async read(offset, length, opts) {
      throwIfAborted(opts?.signal, 'read');
      checkRange({ size }, offset, length, href);
      if (offset + length <= head.byteLength) return head.slice(offset, offset + length); // head is a plain Uint8Array: slice copies
      if (length === 0) return new Uint8Array(0);
      const { bytes } = await get(offset, offset + length - 1, opts?.signal);
      if (bytes.byteLength !== length) {
        throw new HarmonicsError('ERR_TRUNCATED', `${href} sent ${bytes.byteLength} of ${length} bytes at ${offset}; did the file change?`);
      }
      return bytes;
    },
  };
}

function parseTotal(range: string | null): number | undefined {
  const m = range === null ? null : /\/(\d+)$/.exec(range.trim());
  return m === null ? undefined : Number(m[1]);
}

/** The part of `source` from `start`, `length` bytes long, as a source of its own. */
export function sliceSource(source: RandomAccessSource, start: number, length: number): RandomAccessSource {
  checkRange(source, start, length, 'the source');
  return {
    size: length,
    async read(offset, len, options) {
      checkRange({ size: length }, offset, len, 'the slice');
      return source.read(start + offset, len, options);
    },
  };
}
