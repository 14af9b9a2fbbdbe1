import { noop, raceSignals, throwIfAborted } from './abort.js';
import { BaseConsumer } from './base.js';
import { DEFAULT_MAX_MESSAGE_BYTES, LENGTH_PREFIX_BYTES, encodeTensor, encodeTensorInto, encodeTensorParts, encodedByteLength } from './codec.js';
import type { AbortOptions } from './contract.js';
import { HarmonicsError, closedError, tooLargeError } from './errors.js';
import type { Framing } from './stream-producer.js';
import type { Tensor } from './tensor.js';

/**
 * A Node-style writable, typed structurally so core imports nothing from Node:
 * `net.Socket`, `fs.WriteStream`, `process.stdout` all fit.
 */
export interface WritableLike {
  write(chunk: Uint8Array, callback: (error?: Error | null) => void): boolean;
  end?(callback?: (error?: Error | null) => void): unknown;
  cork?(): void;
  uncork?(): void;
  /** Node streams: true once destroyed (then `end()` would never call back). */
  readonly destroyed?: boolean;
  once?(event: 'close' | 'error' | 'finish', listener: (err?: Error) => void): unknown;
  off?(event: 'close' | 'error' | 'finish', listener: (err?: Error) => void): unknown;
}

/**
 * End a Node-style writable and wait until it has flushed. Settles on every
 * path: `end`'s callback or 'finish' resolve; a stream that is (or becomes)
 * destroyed first, or errors, rejects, so `close()` never hangs on a dead socket.
 */
function endNodeWritable(w: WritableLike): Promise<void> {
  if (typeof w.end !== 'function') return Promise.resolve();
  if (w.destroyed) return Promise.reject(new Error('the stream was destroyed before it could be ended'));
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      w.off?.('finish', onFinish);
      w.off?.('close', onClose);
      w.off?.('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onFinish = (): void => done();
    const onClose = (): void => done(new Error('the stream closed before it finished'));
    const onError = (err?: Error): void => done(err ?? new Error('the stream failed'));
    w.once?.('finish', onFinish);
    w.once?.('close', onClose);
    w.once?.('error', onError);
    w.end!((err) => done(err ?? undefined));
  });
}

/** Where a {@link StreamConsumer} writes: a WHATWG `WritableStream` or a Node-style writable. */
export type ByteSink = WritableStream<Uint8Array> | WritableLike;

/** Options of {@link StreamConsumer}. */
export interface StreamConsumerOptions {
  /** `'length-prefixed'` (default, sockets and pipes) or `'records'` (back to back, as in files). */
  framing?: Framing;
  /** Refuse a record over this many bytes with `ERR_TOO_LARGE`; default 256 MiB. */
  maxMessageBytes?: number;
  /**
   * Write large tensors' data straight from the caller's memory (header and data
   * as two chunks, corked together where the sink can cork) instead of copying.
   * Only safe for sinks that are done with a chunk when they acknowledge it
   * (sockets, files). Default false: in-memory pipes such as `TransformStream`
   * or `PassThrough` hand the chunk on by reference, and the caller may reuse
   * its tensor once `push()` resolves.
   */
  zeroCopy?: boolean;
  /** Records up to this size are coalesced into shared write batches; default 16 KiB. */
  coalesceBytes?: number;
  /** Size of a write batch; default 64 KiB. */
  batchBytes?: number;
  /** End the sink (`end()` / `close()`) when the consumer closes; default true. */
  endSink?: boolean;
  /**
   * Write an end-of-stream marker (a zero length prefix) on `close()`, so a
   * reader with `endMarker` can tell a clean end from a writer that was killed
   * between two records. Only for Harmonics readers: the C++ library's
   * readers do not know it. Length-prefixed framing only; default false.
   */
  endMarker?: boolean;
  /**
   * Bytes handed to the sink and not yet acknowledged (a socket's write
   * callback, a `WritableStream` write settling) beyond which `push()` waits;
   * default {@link DEFAULT_STREAM_HIGH_WATER_MARK} (1 MiB). A reader that stops
   * reading stops the writer: memory stays below this plus one batch and one record.
   */
  highWaterMark?: number;
}

/** The default high-water mark of a {@link StreamConsumer}: 1 MiB. */
export const DEFAULT_STREAM_HIGH_WATER_MARK = 1024 * 1024;

type Write = (chunk: Uint8Array) => Promise<void>;

const RESOLVED: Promise<void> = /* @__PURE__ */ Promise.resolve();

/** Run `fn` on a later turn of the event loop (after pending I/O in Node). */
function schedule(fn: () => void): void {
  const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;
  if (immediate !== undefined) immediate(fn);
  else setTimeout(fn, 0);
}

/**
 * Writes framed tensor records to a byte sink.
 *
 * Small records (≤ `coalesceBytes`) are copied into a batch that goes out as
 * one write when it fills or on the next turn of the event loop, so thousands
 * of small tensors do not cost thousands of writes; `push()` resolves once the
 * record is in the batch. Larger records go out on their own and `push()`
 * resolves when the sink acknowledges them. Backpressure: while more than
 * `highWaterMark` bytes (default 1 MiB) were handed to the sink and not yet
 * acknowledged, `push()` waits, so a reader that stops reading stops the
 * writer instead of growing memory.
 *
 * Errors: `ERR_TOO_LARGE` before anything is written, `ERR_CLOSED` after
 * `close()`, `ERR_CONNECTION_LOST` once the sink fails (sticky). An aborted
 * `push()` rejects `ERR_ABORTED`; if it was aborted before its record was
 * handed on, nothing of it is written and the consumer stays usable.
 */
export class StreamConsumer extends BaseConsumer {
  readonly maxMessageBytes: number;
  private readonly prefix: boolean;
  private readonly zeroCopy: boolean;
  private readonly coalesceBytes: number;
  private readonly batchBytes: number;
  private readonly highWaterMark: number;
  private readonly endSink: boolean;
  private readonly endMarker: boolean;
  private readonly writeChunk: Write;
  private readonly endWriter: () => Promise<void>;
  private readonly cork: (() => void) | undefined;
  private readonly uncork: (() => void) | undefined;
  private batch: Uint8Array;
  private used = 0;
  private inflight: Promise<void> | undefined;
  private flushScheduled = false;
  private slowPending = 0;
  private slowTail: Promise<void> = RESOLVED;
  /** Bytes handed to the sink whose write has not settled yet. */
  private unacked = 0;
  private belowMarkWaiters: (() => void)[] = [];
  private failure: HarmonicsError | undefined;
  private closed = false;
  private closePromise: Promise<void> | undefined;

  constructor(sink: ByteSink, options: StreamConsumerOptions = {}) {
    super();
    this.prefix = options.framing !== 'records';
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.zeroCopy = options.zeroCopy ?? false;
    this.batchBytes = options.batchBytes ?? 64 * 1024;
    this.coalesceBytes = Math.min(options.coalesceBytes ?? 16 * 1024, this.batchBytes);
    this.endSink = options.endSink ?? true;
    this.endMarker = options.endMarker === true && this.prefix;
    this.highWaterMark = options.highWaterMark ?? DEFAULT_STREAM_HIGH_WATER_MARK;
    if (!(this.highWaterMark > 0))
      throw new HarmonicsError('ERR_INVALID_ARGUMENT', `highWaterMark must be a positive number of bytes, got ${options.highWaterMark}`);
    this.batch = new Uint8Array(this.batchBytes);
    if (typeof (sink as WritableStream<Uint8Array>).getWriter === 'function') {
      const writer = (sink as WritableStream<Uint8Array>).getWriter();
      this.writeChunk = (chunk) => writer.write(chunk);
      this.endWriter = () => writer.close();
    } else if (typeof (sink as WritableLike).write === 'function') {
      const w = sink as WritableLike;
      this.writeChunk = (chunk) =>
        new Promise<void>((resolve, reject) => {
          w.write(chunk, (err) => (err ? reject(err) : resolve()));
        });
      this.endWriter = () => endNodeWritable(w);
      if (typeof w.cork === 'function' && typeof w.uncork === 'function') {
        this.cork = () => w.cork!();
        this.uncork = () => w.uncork!();
      }
    } else {
      throw new HarmonicsError('ERR_PROTOCOL', 'StreamConsumer needs a WritableStream or an object with write(chunk, callback)');
    }
  }

  /** Write one tensor (see the class notes for when this resolves). */
  push(t: Tensor, options?: AbortOptions): Promise<void> {
    // Not async: a small record that fits the batch costs no promise of its own.
    let framed: number;
    try {
      if (this.closed) throw closedError('the consumer');
      if (this.failure) throw this.failure;
      throwIfAborted(options?.signal, 'push()');
      const recordLength = encodedByteLength(t);
      if (recordLength > this.maxMessageBytes) throw tooLargeError('tensor record', recordLength, this.maxMessageBytes);
      framed = recordLength + (this.prefix ? LENGTH_PREFIX_BYTES : 0);
      if (this.slowPending === 0 && framed <= this.coalesceBytes && this.used + framed <= this.batch.length && this.unacked < this.highWaterMark) {
        this.used = encodeTensorInto(t, this.batch, this.used, { lengthPrefix: this.prefix });
        this.scheduleFlush();
        return RESOLVED;
      }
    } catch (err) {
      return Promise.reject(err);
    }
    // Pushes that must wait run one after another, and later pushes queue behind them, so order is kept.
    this.slowPending++;
    const signal = options?.signal;
    const run = (): Promise<void> => this.pushSlow(t, framed, signal);
    const p = this.slowTail.then(run, run);
    this.slowTail = p.then(this.slowDone, this.slowDone);
    return p;
  }

  private readonly slowDone = (): void => {
    this.slowPending--;
  };

  private scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      schedule(this.scheduledFlush);
    }
  }

  private async pushSlow(t: Tensor, framed: number, signal: AbortSignal | undefined): Promise<void> {
    throwIfAborted(signal, 'push()'); // aborted while queued: nothing written
    if (this.failure) throw this.failure;
    // Over the high-water mark: wait until the sink has acknowledged enough (nothing of this record is buffered yet).
    while (this.unacked >= this.highWaterMark && !this.failure) {
      await raceSignals(new Promise<void>((resolve) => this.belowMarkWaiters.push(resolve)), signal, 'push()');
    }
    if (this.failure) throw this.failure;
    const lengthPrefix = this.prefix;
    if (framed <= this.coalesceBytes) {
      // A full batch is handed on first (waiting for the one before); then the record joins the next.
      if (this.used + framed > this.batch.length) await this.flush(signal);
      this.used = encodeTensorInto(t, this.batch, this.used, { lengthPrefix });
      this.scheduleFlush();
      return;
    }

    // A large record: wait for room (the batch ahead of it and the write before), then write it.
    if (this.used > 0) await this.flush(signal);
    if (this.inflight) await raceSignals(this.inflight, signal, 'push()');
    if (this.failure) throw this.failure;
    let written: Promise<void>;
    if (this.zeroCopy) {
      const [header, data] = encodeTensorParts(t, { lengthPrefix });
      this.cork?.();
      void this.track(header); // track() never rejects; a failure shows up on the data write too
      written = this.track(data);
      this.uncork?.();
    } else {
      written = this.track(encodeTensor(t, { lengthPrefix }));
    }
    this.inflight = written;
    await written;
    if (this.failure) throw this.failure;
  }

  private readonly scheduledFlush = (): void => {
    this.flushScheduled = false;
    if (this.used > 0 && !this.failure) this.flush(undefined).catch(noop);
  };

  /** Hand the current batch to the sink, then wait until the batch before it was written. */
  private async flush(signal: AbortSignal | undefined): Promise<void> {
    const previous = this.inflight;
    if (this.used > 0) {
      const chunk = this.batch.subarray(0, this.used);
      this.batch = new Uint8Array(this.batchBytes);
      this.used = 0;
      const written = this.track(chunk);
      this.inflight = previous ? previous.then(() => written) : written;
    }
    if (previous) await raceSignals(previous, signal, 'push()');
    if (this.failure) throw this.failure;
  }

  /** Write a chunk; a failure becomes the sticky `ERR_CONNECTION_LOST`, and the returned promise never rejects. */
  private track(chunk: Uint8Array): Promise<void> {
    const n = chunk.byteLength;
    this.unacked += n;
    return this.writeChunk(chunk).then(
      () => this.acknowledged(n),
      (cause) => {
        this.fail(this.sinkError(cause));
        this.acknowledged(n);
      },
    );
  }

  private acknowledged(n: number): void {
    this.unacked -= n;
    if ((this.unacked < this.highWaterMark || this.failure) && this.belowMarkWaiters.length > 0) {
      const waiters = this.belowMarkWaiters;
      this.belowMarkWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  /**
   * The error a failing write becomes; `ERR_CONNECTION_LOST` by default.
   * Transports override it (a TCP client that never connected: `ERR_CONNECT`).
   */
  protected sinkError(cause: unknown): HarmonicsError {
    if (cause instanceof HarmonicsError) return cause;
    return new HarmonicsError('ERR_CONNECTION_LOST', `writing to the byte sink failed: ${(cause as Error)?.message ?? cause}`, {
      cause,
    });
  }

  /** Make `err` the sticky failure: later and waiting pushes and `close()` reject with it. The first failure wins. */
  protected fail(err: HarmonicsError): void {
    this.failure ??= err;
  }

  /** Flush what is batched, wait for every write, then end the sink. Idempotent. */
  close(): Promise<void> {
    this.closePromise ??= (async () => {
      this.closed = true;
      await this.slowTail;
      if (this.endMarker && !this.failure) {
        // The marker goes out last, after every record: a reader that sees it knows nothing is missing.
        if (this.used + LENGTH_PREFIX_BYTES > this.batch.length) await this.flush(undefined).catch(noop);
        this.batch.fill(0, this.used, this.used + LENGTH_PREFIX_BYTES);
        this.used += LENGTH_PREFIX_BYTES;
      }
      if (this.used > 0 && !this.failure) await this.flush(undefined).catch(noop);
      if (this.inflight) await this.inflight;
      if (this.failure) throw this.failure;
      if (this.endSink) {
        try {
          await this.endWriter();
        } catch (cause) {
          throw new HarmonicsError('ERR_CONNECTION_LOST', `ending the byte sink failed: ${(cause as Error)?.message}`, { cause });
        }
      }
    })();
    return this.closePromise;
  }
}
