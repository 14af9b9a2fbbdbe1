import { noop, raceSignals, throwIfAborted } from './abort.js';
import { BaseProducer } from './base.js';
import type { AbortOptions } from './contract.js';
import { HarmonicsError, closedError, isHarmonicsError } from './errors.js';
import { FrameDecoder } from './frame-decoder.js';
import { isReadableLike, pullFromReadable } from './node-readable.js';
import type { Tensor } from './tensor.js';

/**
 * Anything that yields byte chunks: a WHATWG `ReadableStream`, a Node
 * `Readable` (read through its 'data' events, paused while 16 chunks wait),
 * or any async iterable such as an async generator.
 */
export type ByteSource = AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>;

/**
 * A source that hands chunks over on request, for transports that feed a
 * {@link StreamProducer} themselves (e.g. from Node's socket `onread`).
 * `pullChunk()` resolves the next chunk (an empty one means "progress was made
 * directly in the decoder"), `done` at a clean end, or rejects on failure.
 */
export interface ChunkSource {
  pullChunk(): Promise<IteratorResult<Uint8Array>>;
  releaseChunks(): void;
}

function isChunkSource(source: unknown): source is ChunkSource {
  return typeof (source as ChunkSource).pullChunk === 'function' && typeof (source as ChunkSource).releaseChunks === 'function';
}

/** How records are delimited in a byte stream. */
export type Framing = 'length-prefixed' | 'records';

/** Options of {@link StreamProducer}. */
export interface StreamProducerOptions {
  /** `'length-prefixed'` (default, sockets and pipes) or `'records'` (back to back, as in files). */
  framing?: Framing;
  /** Reject a record over this many bytes with `ERR_TOO_LARGE`; default 256 MiB. */
  maxMessageBytes?: number;
  /** What a source that ends inside a record is reported as; default `'ERR_TRUNCATED'`. */
  endInsideRecord?: 'ERR_TRUNCATED' | 'ERR_CONNECTION_LOST';
  /**
   * Require the writer's end-of-stream marker (`StreamConsumer`'s `endMarker`):
   * a stream that ends without it rejects `ERR_CONNECTION_LOST` instead of
   * ending cleanly. Only between Harmonics peers; default false.
   */
  endMarker?: boolean;
}

type Pull = () => Promise<IteratorResult<Uint8Array>>;

/**
 * Reads framed tensor records from any byte source. Core imports nothing from
 * Node: a Node `Readable` (or `process.stdin`) is an async iterable of chunks.
 *
 * Copies: one per record (see {@link FrameDecoder}). A `next()` aborted by its
 * signal leaves the producer usable: the chunk read that was under way is kept
 * for the next call, so nothing is lost.
 *
 * Errors: `ERR_TRUNCATED` when the source ends inside a record (naming its byte
 * offset), `ERR_CONNECTION_LOST` when the source itself fails, the decoder's
 * errors for malformed records, `ERR_CLOSED` after `close()`.
 */
export class StreamProducer extends BaseProducer {
  /** The record decoder (transports that read directly into it use `directTarget`). */
  protected readonly decoder: FrameDecoder;
  private readonly pullChunk: Pull;
  private readonly release: () => Promise<void>;
  private readonly closing = new AbortController();
  private readonly endInsideRecord: 'ERR_TRUNCATED' | 'ERR_CONNECTION_LOST';
  private pending: Promise<IteratorResult<Uint8Array>> | undefined;
  private ended = false;
  private failure: unknown;
  private closePromise: Promise<void> | undefined;

  constructor(source: ByteSource | ChunkSource, options: StreamProducerOptions = {}) {
    super();
    this.decoder = new FrameDecoder({
      lengthPrefixed: options.framing !== 'records',
      maxMessageBytes: options.maxMessageBytes,
      endMarker: options.endMarker,
    });
    this.endInsideRecord = options.endInsideRecord ?? 'ERR_TRUNCATED';
    if (isChunkSource(source)) {
      this.pullChunk = () => source.pullChunk();
      this.release = async () => source.releaseChunks();
    } else if (typeof (source as ReadableStream<Uint8Array>).getReader === 'function') {
      const reader = (source as ReadableStream<Uint8Array>).getReader();
      this.pullChunk = () => reader.read() as Promise<IteratorResult<Uint8Array>>;
      this.release = () => reader.cancel().catch(noop);
    } else if (isReadableLike(source)) {
      const { pull, release } = pullFromReadable(source);
      this.pullChunk = pull;
      this.release = async () => release();
    } else if (typeof (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') {
      const it = (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
      this.pullChunk = () => it.next();
      this.release = async () => {
        // An iterator's return() may queue behind a pending next(); do not wait on it.
        void Promise.resolve(it.return?.()).catch(noop);
      };
    } else {
      throw new HarmonicsError('ERR_PROTOCOL', 'StreamProducer needs a ReadableStream or an async iterable of Uint8Array chunks');
    }
  }

  protected override readReady(): Tensor | undefined {
    if (this.failure !== undefined || this.closing.signal.aborted) return undefined;
    try {
      return this.decoder.read();
    } catch {
      return undefined; // the decoder keeps the error; read() reports it
    }
  }

  /** Next tensor; `undefined` at a clean end of the source. */
  protected async read(options?: AbortOptions): Promise<Tensor | undefined> {
    try {
      if (this.closing.signal.aborted) throw closedError('the producer');
      if (this.failure !== undefined) throw this.failure;
      throwIfAborted(options?.signal, 'next()');
      for (;;) {
        const t = this.decoder.read();
        if (t !== undefined) return t;
        if (this.ended) return this.finish();
        this.pending ??= this.pullChunk();
        let r: IteratorResult<Uint8Array>;
        try {
          r = await raceSignals(this.pending, options?.signal, 'next()', this.closing.signal, 'the producer');
        } catch (err) {
          if (isHarmonicsError(err, 'ERR_ABORTED') || isHarmonicsError(err, 'ERR_CLOSED')) throw err;
          this.pending = undefined;
          throw this.sourceError(err);
        }
        this.pending = undefined;
        if (r.done) this.ended = true;
        else this.decoder.push(toBytes(r.value));
      }
    } catch (err) {
      if (this.failure === undefined && !isHarmonicsError(err, 'ERR_ABORTED') && !isHarmonicsError(err, 'ERR_CLOSED')) {
        this.failure = err;
        void this.release();
      }
      throw err;
    }
  }

  /**
   * The error a failing source becomes; `ERR_CONNECTION_LOST` by default.
   * Transports override it (a TCP client that never connected: `ERR_CONNECT`).
   */
  protected sourceError(err: unknown): HarmonicsError {
    if (isHarmonicsError(err)) return err;
    return new HarmonicsError('ERR_CONNECTION_LOST', `the byte source failed: ${(err as Error)?.message ?? err}`, { cause: err });
  }

  private finish(): undefined {
    try {
      this.decoder.end();
    } catch (err) {
      if (this.endInsideRecord === 'ERR_TRUNCATED' || (err as HarmonicsError).code !== 'ERR_TRUNCATED') throw err;
      throw new HarmonicsError('ERR_CONNECTION_LOST', `the peer went away mid-record: ${(err as Error).message}`, { cause: err });
    }
    return undefined;
  }

  /** Stop reading and release the source. Idempotent. */
  close(): Promise<void> {
    this.closePromise ??= (async () => {
      this.closing.abort();
      await this.release();
    })();
    return this.closePromise;
  }
}

function toBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  throw new HarmonicsError(
    'ERR_PROTOCOL',
    `the byte source yielded a ${typeof chunk === 'string' ? 'string' : typeof chunk}; it must yield Uint8Array chunks (no text encoding)`,
  );
}
