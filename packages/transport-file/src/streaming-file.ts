import type { FileHandle } from 'node:fs/promises';
import {
  type AbortOptions,
  BaseConsumer,
  BaseProducer,
  DEFAULT_MAX_MESSAGE_BYTES,
  HarmonicsError,
  type Tensor,
  encodeTensorParts,
  encodedByteLength,
} from '@harmonics/core';
import { closedError, noop, raceSignals, throwIfAborted, tooLargeError } from '@harmonics/internal';
import { ioError, openFile, writeAll } from './file-io.js';
import { END, PARTIAL, RecordReader } from './record-reader.js';

/** Options of {@link StreamingFileProducer}. */
export interface StreamingFileProducerOptions {
  /**
   * Like `tail -f`: at the end of the file, wait for another process to append
   * more records instead of ending. A half-written record at the end is waited
   * for, not reported as truncated. A file that does not exist yet is waited
   * for too. Default false.
   */
  follow?: boolean;
  /** While following, end after this long without the file growing (then a half record at the end is `ERR_TRUNCATED`). Default: never. */
  idleTimeoutMs?: number;
  /** How often a follower checks the file for growth. Default 20 ms. */
  pollIntervalMs?: number;
  /** Reject a record over this many bytes with `ERR_TOO_LARGE`; default 256 MiB. */
  maxMessageBytes?: number;
}

/**
 * Reads records from a file through a handle it keeps open, optionally
 * following the file as another process appends to it.
 *
 * Ends (`next()` resolves `undefined`) at the end of the file when not
 * following; when following, only after `idleTimeoutMs` without growth.
 * `close()` makes a waiting `next()` reject `ERR_CLOSED`. A `next()` aborted
 * while waiting for growth rejects `ERR_ABORTED` and leaves the producer
 * usable at the same position.
 */
export class StreamingFileProducer extends BaseProducer {
  readonly path: string;
  private readonly follow: boolean;
  private readonly idleTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly maxMessageBytes: number;
  private readonly closing = new AbortController();
  private opening: Promise<FileHandle> | undefined;
  private reader: RecordReader | undefined;
  private failure: unknown;
  private ended = false;
  private closePromise: Promise<void> | undefined;

  constructor(path: string, options: StreamingFileProducerOptions = {}) {
    super();
    this.path = path;
    this.follow = options.follow ?? false;
    this.idleTimeoutMs = options.idleTimeoutMs ?? Infinity;
    this.pollIntervalMs = options.pollIntervalMs ?? 20;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.opening = openFile(path, 'r', 'tensor file');
    this.opening.catch(noop);
  }

  protected async read(options?: AbortOptions): Promise<Tensor | undefined> {
    const signal = options?.signal;
    if (this.closing.signal.aborted) throw closedError('the producer');
    if (this.failure !== undefined) throw this.failure;
    throwIfAborted(signal, 'next()');
    if (this.ended) return undefined;
    try {
      let lastGrowth = Date.now();
      let lastSize = -1;
      for (;;) {
        const reader = await this.open(signal, lastGrowth);
        if (reader !== undefined) {
          const r = await reader.tryRead();
          if (this.closing.signal.aborted) throw closedError('the producer');
          if (r !== END && r !== PARTIAL) return r;
          if (!this.follow) return this.atEnd(r, reader);
          const size = (await (await this.opening!).stat()).size;
          if (size !== lastSize) {
            const first = lastSize < 0;
            lastSize = size;
            lastGrowth = Date.now();
            if (!first) continue; // it grew: read again at once
          } else if (Date.now() - lastGrowth >= this.idleTimeoutMs) {
            return this.atEnd(r, reader);
          }
        }
        const idleLeft = this.idleTimeoutMs - (Date.now() - lastGrowth);
        await this.sleep(Math.max(1, Math.min(this.pollIntervalMs, idleLeft)), signal);
      }
    } catch (err) {
      const e = ioError(err, 'reading', this.path);
      if (!isTransient(e)) this.failure = e;
      throw e;
    }
  }

  /** End of input: clean at a record boundary, `ERR_TRUNCATED` inside a record. */
  private atEnd(r: typeof END | typeof PARTIAL, reader: RecordReader): undefined {
    if (r === END) {
      // A clean end releases the file at once, so `for await` needs no close().
      void this.opening?.then((fh) => fh.close()).catch(noop);
      this.ended = true;
      return undefined;
    }
    throw new HarmonicsError(
      'ERR_TRUNCATED',
      `${this.path} ends inside the record at byte ${reader.position}${this.follow ? ` and did not grow for ${this.idleTimeoutMs} ms` : ''}`,
    );
  }

  /** The reader, or `undefined` while following a file that does not exist yet. */
  private async open(signal: AbortSignal | undefined, since: number): Promise<RecordReader | undefined> {
    if (this.reader !== undefined) return this.reader;
    try {
      const fh = await raceSignals(this.opening!, signal, 'next()', this.closing.signal, 'the producer');
      this.reader = new RecordReader(fh, this.maxMessageBytes);
      return this.reader;
    } catch (err) {
      const missing = (err as HarmonicsError).cause as NodeJS.ErrnoException | undefined;
      if (!this.follow || missing?.code !== 'ENOENT' || Date.now() - since >= this.idleTimeoutMs) throw err;
      this.opening = openFile(this.path, 'r', 'tensor file');
      this.opening.catch(noop);
      return undefined;
    }
  }

  private sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    return raceSignals(waited, signal, 'next()', this.closing.signal, 'the producer').finally(() => clearTimeout(timer));
  }

  /** Close the file; a waiting `next()` rejects `ERR_CLOSED`. Idempotent. */
  close(): Promise<void> {
    this.closePromise ??= (async () => {
      this.closing.abort();
      const fh = await this.opening?.catch(() => undefined);
      await fh?.close().catch(noop);
    })();
    return this.closePromise;
  }
}

function isTransient(err: HarmonicsError): boolean {
  return err.code === 'ERR_ABORTED' || err.code === 'ERR_CLOSED';
}

/** Options of {@link StreamingFileConsumer}. */
export interface StreamingFileConsumerOptions {
  /** Replace the file instead of appending to it. Default false (append). */
  truncate?: boolean;
  /** `fdatasync` after each record, so it survives a crash of the machine, not only of the process. Default false. */
  sync?: boolean;
  /** Refuse a tensor whose record is over this many bytes (`ERR_TOO_LARGE`); default 256 MiB. */
  maxMessageBytes?: number;
}

/**
 * Appends records to a file through a handle it keeps open, writing each
 * record (header and data in one `writev`, no copy) before `push()` resolves,
 * so a reader in another process sees it at once. Records are written in
 * `push()` order.
 */
export class StreamingFileConsumer extends BaseConsumer {
  readonly path: string;
  private readonly sync: boolean;
  private readonly maxMessageBytes: number;
  private readonly opening: Promise<FileHandle>;
  private tail: Promise<void> = Promise.resolve();
  private failure: HarmonicsError | undefined;
  private closed = false;
  private closePromise: Promise<void> | undefined;

  constructor(path: string, options: StreamingFileConsumerOptions = {}) {
    super();
    this.path = path;
    this.sync = options.sync ?? false;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.opening = openFile(path, options.truncate ? 'w' : 'a', 'tensor file');
    this.opening.catch(noop);
  }

  push(t: Tensor, options?: AbortOptions): Promise<void> {
    if (this.closed) return Promise.reject(closedError('the consumer'));
    if (this.failure) return Promise.reject(this.failure);
    const signal = options?.signal;
    try {
      throwIfAborted(signal, 'push()');
      const n = encodedByteLength(t);
      if (n > this.maxMessageBytes) throw tooLargeError('tensor record', n, this.maxMessageBytes);
    } catch (err) {
      return Promise.reject(err);
    }
    const parts = encodeTensorParts(t);
    const write = this.tail.then(async () => {
      throwIfAborted(signal, 'push()'); // aborted while queued: nothing written
      if (this.failure) throw this.failure;
      const fh = await this.opening;
      try {
        await writeAll(fh, parts);
        if (this.sync) await fh.datasync();
      } catch (cause) {
        this.failure = ioError(cause, 'appending to', this.path);
        throw this.failure;
      }
    });
    this.tail = write.catch(noop);
    return write;
  }

  /** Wait for every write, then close the file. Idempotent. */
  close(): Promise<void> {
    this.closePromise ??= (async () => {
      this.closed = true;
      await this.tail;
      const fh = await this.opening;
      await fh.close();
      if (this.failure) throw this.failure;
    })();
    return this.closePromise;
  }
}
