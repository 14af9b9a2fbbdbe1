import type { FileHandle } from 'node:fs/promises';
import type { WriteStream } from 'node:fs';
import { type AbortOptions, BaseConsumer, StreamConsumer, type Tensor } from '@harmonics/core';
import { closedError, noop, throwIfAborted } from '@harmonics/internal';
import { openFile } from './file-io.js';

/** Options of {@link FileConsumer}. */
export interface FileConsumerOptions {
  /** Append to an existing file instead of replacing it. Default false. */
  append?: boolean;
  /** Refuse a tensor whose record is over this many bytes (`ERR_TOO_LARGE`); default 256 MiB. */
  maxMessageBytes?: number;
}

/**
 * Writes tensors to a file as back-to-back records, byte-identical to the C++
 * `FileConsumer`. Small records are batched into 64 KiB writes; large ones go
 * out as header + data in one `writev`, straight from the tensor's memory.
 * `close()` flushes everything and closes the file.
 *
 * Errors: `ERR_CONNECT` when the file cannot be opened, `ERR_CONNECTION_LOST`
 * when a write fails, `ERR_TOO_LARGE`, `ERR_CLOSED`.
 */
export class FileConsumer extends BaseConsumer {
  readonly path: string;
  private readonly opening: Promise<{ fh: FileHandle; stream: WriteStream; writer: StreamConsumer }>;
  private closed = false;
  private closePromise: Promise<void> | undefined;

  constructor(path: string, options: FileConsumerOptions = {}) {
    super();
    this.path = path;
    this.opening = openFile(path, options.append ? 'a' : 'w', 'tensor file').then((fh) => {
      const stream = fh.createWriteStream({ highWaterMark: 64 * 1024 });
      stream.on('error', noop); // failures reach push()/close() through the write callbacks
      const writer = new StreamConsumer(stream, { framing: 'records', zeroCopy: true, maxMessageBytes: options.maxMessageBytes });
      return { fh, stream, writer };
    });
    this.opening.catch(noop);
  }

  async push(t: Tensor, options?: AbortOptions): Promise<void> {
    if (this.closed) throw closedError('the consumer');
    throwIfAborted(options?.signal, 'push()');
    const { writer } = await this.opening;
    return writer.push(t, options);
  }

  /** Flush, then close the file. Idempotent. */
  close(): Promise<void> {
    this.closePromise ??= (async () => {
      this.closed = true;
      const opened = await this.opening;
      const closedFile = new Promise<void>((resolve) => {
        if (opened.stream.closed) resolve();
        else opened.stream.once('close', () => resolve());
      });
      try {
        await opened.writer.close();
      } catch (err) {
        opened.stream.destroy();
        throw err;
      }
      await closedFile;
    })();
    return this.closePromise;
  }
}
