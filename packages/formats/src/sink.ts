import { type AbortOptions, HarmonicsError } from '@harmonics/core';
import { invalidArgument, throwIfAborted } from '@harmonics/internal';
import { copyBytes } from './bytes.js';

/**
 * Where the writers in this package put bytes, in order. `write()` resolves
 * when the sink has taken the bytes (it may keep no reference to them after).
 */
export interface ByteSink {
  write(bytes: Uint8Array, options?: AbortOptions): Promise<void>;
  /** Flush and release. Idempotent. */
  close(): Promise<void>;
}

/** A sink that keeps what it is given; `bytes()` joins it. */
export interface MemorySink extends ByteSink {
  /** Everything written so far, as one array. */
  bytes(): Uint8Array;
}

/** A sink that collects the bytes in memory (for `encode…` helpers, tests, and uploads). */
export function memorySink(): MemorySink {
  const parts: Uint8Array[] = [];
  let total = 0;
  let closed = false;
  return {
    write(bytes, options) {
      throwIfAborted(options?.signal, 'write');
      if (closed) return Promise.reject(new HarmonicsError('ERR_CLOSED', 'the memory sink is closed'));
      parts.push(copyBytes(bytes));
      total += bytes.byteLength;
      return Promise.resolve();
    },
    close() {
      closed = true;
      return Promise.resolve();
    },
    bytes() {
      if (parts.length === 1) return parts[0];
      const out = new Uint8Array(total);
      let o = 0;
      for (const p of parts) {
        out.set(p, o);
        o += p.byteLength;
      }
      parts.length = 0;
      parts.push(out);
      return out;
    },
  };
}

/** What {@link fileSink} needs of a file handle: Node's `FileHandle` from `fs.promises.open(path, 'w')` has it. */
export interface WritableFileHandleLike {
  write(buffer: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  close(): Promise<void>;
}

/** A sink over a file opened for writing: `fileSink(await fs.promises.open(path, 'w'))`. Closing it closes the handle. */
export function fileSink(handle: WritableFileHandleLike): ByteSink {
  if (typeof handle?.write !== 'function' || typeof handle.close !== 'function') {
    throw invalidArgument(`fileSink() takes a file handle opened for writing (await fs.promises.open(path, 'w'))`);
  }
  let closed: Promise<void> | undefined;
  return {
    async write(bytes, options) {
      throwIfAborted(options?.signal, 'write');
      if (closed !== undefined) throw new HarmonicsError('ERR_CLOSED', 'the file sink is closed');
      let done = 0;
      while (done < bytes.byteLength) {
        const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done);
        if (bytesWritten <= 0) throw new HarmonicsError('ERR_CONNECTION_LOST', `writing the file stopped after ${done} of ${bytes.byteLength} bytes`);
        done += bytesWritten;
      }
    },
    close() {
      closed ??= handle.close();
      return closed;
    },
  };
}

/** A sink over a web `WritableStream` (a browser's `FileSystemWritableFileStream`, a `fetch` upload body, Node's `Writable.toWeb()`). */
export function streamSink(stream: WritableStream<Uint8Array>): ByteSink {
  if (typeof stream?.getWriter !== 'function') throw invalidArgument(`streamSink() takes a WritableStream`);
  const writer = stream.getWriter();
  let closed: Promise<void> | undefined;
  return {
    async write(bytes, options) {
      throwIfAborted(options?.signal, 'write');
      if (closed !== undefined) throw new HarmonicsError('ERR_CLOSED', 'the stream sink is closed');
      await writer.ready;
      // A WritableStream may keep the chunk it is given: give it a copy of bytes it does not own.
      await writer.write(copyBytes(bytes));
    },
    close() {
      closed ??= writer.close();
      return closed;
    },
  };
}
