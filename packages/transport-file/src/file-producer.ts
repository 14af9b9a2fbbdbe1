import type { FileHandle } from 'node:fs/promises';
import { type AbortOptions, BaseProducer, DEFAULT_MAX_MESSAGE_BYTES, HarmonicsError, type Tensor } from '@harmonics/core';
import { closedError, noop, throwIfAborted } from '@harmonics/internal';
import { ioError, openFile } from './file-io.js';
import { END, PARTIAL, RecordReader } from './record-reader.js';

/** Options of {@link FileProducer}. */
export interface FileProducerOptions {
  /** At the end of the file, start again from the first record (like the C++ dataset loader). Default false. */
  loop?: boolean;
  /** Reject a record over this many bytes with `ERR_TOO_LARGE`; default 256 MiB. */
  maxMessageBytes?: number;
}

/**
 * Reads the records of a tensor file (back to back, as the C++
 * `FileConsumer` writes them) in order, with constant memory: never the whole
 * file, only a 64 KiB read-ahead plus the record being returned.
 *
 * `size` (the number of whole records) is known once the first `next()` has
 * resolved; it comes from a scan of the headers only.
 *
 * A file that ends inside a record gives every complete record first, then
 * rejects `ERR_TRUNCATED` naming the record's byte offset (and keeps doing so).
 * A file that cannot be opened rejects `ERR_CONNECT`.
 */
export class FileProducer extends BaseProducer {
  readonly path: string;
  private readonly loop: boolean;
  private readonly maxMessageBytes: number;
  private readonly opening: Promise<FileHandle>;
  private reader: RecordReader | undefined;
  private count: number | undefined;
  private failure: unknown;
  private ended = false;
  private closed = false;
  private closePromise: Promise<void> | undefined;

  constructor(path: string, options: FileProducerOptions = {}) {
    super();
    this.path = path;
    this.loop = options.loop ?? false;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.opening = openFile(path, 'r', 'tensor file');
    this.opening.catch(noop);
  }

  /** Number of whole records in the file; `undefined` until the first `next()` resolves. */
  get size(): number | undefined {
    return this.count;
  }

  protected async read(options?: AbortOptions): Promise<Tensor | undefined> {
    if (this.closed) throw closedError('the producer');
    if (this.failure !== undefined) throw this.failure;
    throwIfAborted(options?.signal, 'next()');
    if (this.ended) return undefined;
    try {
      if (this.reader === undefined) {
        const fh = await this.opening;
        const reader = new RecordReader(fh, this.maxMessageBytes);
        this.count = await reader.countRecords();
        this.reader = reader;
      }
      for (;;) {
        if (this.closed) throw closedError('the producer');
        const r = await this.reader.tryRead();
        if (r === PARTIAL) {
          throw new HarmonicsError(
            'ERR_TRUNCATED',
            `${this.path} ends inside the record at byte ${this.reader.position}; the ${this.reader.position === 0 ? 'file has no' : 'records before it are the only'} complete records`,
          );
        }
        if (r !== END) return r;
        if (!this.loop || this.reader.position === 0) {
          // A clean end releases the file at once, so `for await` needs no close().
          this.ended = true;
          await (await this.opening).close().catch(noop);
          return undefined;
        }
        this.reader.seek(0);
      }
    } catch (err) {
      const e = this.closed && !(err instanceof HarmonicsError) ? closedError('the producer') : ioError(err, 'reading', this.path);
      if (!this.closed) this.failure = e;
      throw e;
    }
  }

  /** Close the file. Idempotent. */
  close(): Promise<void> {
    this.closePromise ??= (async () => {
      this.closed = true;
      const fh = await this.opening.catch(() => undefined);
      await fh?.close().catch(noop);
    })();
    return this.closePromise;
  }
}
