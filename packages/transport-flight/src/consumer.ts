import { randomUUID } from 'node:crypto';
import type { ClientDuplexStream, StatusObject } from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import { type AbortOptions, BaseConsumer, HarmonicsError, type Tensor, encodedByteLength, recordHeaderLength, tensorBytes } from '@harmonics/core';
import { Ring, abortError, checkBool, checkPositive, checkTensorData, closedError, noop, tooLargeError } from '@harmonics/internal';
import { type SendLayout, batchHeader } from './arrow.js';
import { type ClientSettings, END_ACTION, type FlightClientOptions, WRITER_KEY, checkStream, makeClient, watchConnect } from './client.js';
import { callError, withErrorCode } from './errors.js';
import { type DirectStream, directWrites, waitForClientStream, writeMessage } from './direct.js';
import { LazyFlightData, flightData } from './flight-data.js';
import { cachedLayout } from './layouts.js';
import { DESCRIPTOR_PATH, encodeAction, encodeDescriptor, encodeUtf8 } from './proto.js';
import type { TensorFlightServer } from './server.js';
import { methodPath } from './service.js';
import { waitFor } from './wait.js';

/** Options of a {@link FlightConsumer} over the network. */
export interface FlightConsumerOptions extends FlightClientOptions {
  /**
   * Tensors of one dtype and shape per record batch (one FlightData): push()
   * copies each into the batch being built and resolves; a batch goes out
   * when full, when the dtype or shape changes, at the end of the current
   * tick, and on close(). Default 1 (each tensor is its own batch, sent as
   * push() is called).
   */
  batchRows?: number;
  /** Bytes written to the DoPut call but not yet taken by HTTP/2 before push() waits. Default 8 MiB. */
  highWaterMark?: number;
  /**
   * Write DoPut messages straight to the HTTP/2 stream under grpc-js,
   * tensors as they are (no copy; `push()` then resolves once a large
   * tensor is written out). False sends them through grpc-js, which copies
   * each into a new buffer. Default true (a fast path: off with `fastPaths:
   * false`, or with compression or interceptors in `channelOptions`); a call
   * falls back by itself when grpc-js's internals are not what it expects.
   */
  directWrites?: boolean;
}

/** Options of a {@link FlightConsumer} into an in-memory server. */
export interface LocalFlightOptions {
  stream?: string;
}

interface PutCall {
  stream: ClientDuplexStream<Buffer, Buffer>;
  /** The HTTP/2 stream the messages of this call are written to directly, or undefined (through grpc-js). */
  h2?: DirectStream;
  layout: SendLayout;
  pending: number;
  done: boolean;
  error: unknown;
  finished: Promise<void>;
  /** Sizes of the messages written and not yet called back, in order (one callback per call, not one closure per message). */
  sizes: Ring<number>;
  written: () => void;
}

interface Batch {
  layout: SendLayout;
  buf: Uint8Array;
  rows: number;
  /** Rows this batch takes: batchRows, fewer when they would pass MAX_BATCH_BYTES or maxMessageBytes. */
  capacity: number;
}

/** Most tensor bytes one batch built by `batchRows` carries (a larger tensor goes alone). */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

const RESOLVED: Promise<void> = Promise.resolve();
const identity = (b: Buffer): Buffer => b;

interface ConsumerImpl {
  push(t: Tensor, signal: AbortSignal | undefined): Promise<void>;
  close(): Promise<void>;
}

/**
 * Writes tensors to an Arrow Flight stream: `DoPut` to the descriptor path
 * `[stream]`, each tensor a row of an `arrow.fixed_shape_tensor` column
 * (several rows per record batch with `batchRows`). A change of dtype or
 * shape ends the current DoPut (waiting for the server to confirm it) and
 * starts a new one with the new schema, so the stream round-trips any mix.
 * `close()` ends the DoPut, waits for the server's answer (it has every
 * tensor) and tells our server the writer is done (a DoAction other servers
 * may ignore).
 *
 * `new FlightConsumer(server, { stream })` writes into an in-memory
 * {@link TensorFlightServer} without the network (the tensor is copied, so the
 * caller may reuse it).
 */
export class FlightConsumer extends BaseConsumer {
  private readonly impl: ConsumerImpl;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(server: TensorFlightServer, options?: LocalFlightOptions);
  constructor(host: string, port: number, options?: FlightConsumerOptions);
  constructor(a: string | TensorFlightServer, b?: number | LocalFlightOptions, c?: FlightConsumerOptions) {
    super();
    this.impl = typeof a === 'string' ? new NetworkConsumer(a, b as number, c ?? {}) : new LocalConsumer(a, (b as LocalFlightOptions) ?? {});
  }

  push(t: Tensor, options?: AbortOptions): Promise<void> {
    if (this.closed) return Promise.reject(closedError('FlightConsumer'));
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal, 'FlightConsumer.push()'));
    return this.impl.push(t, signal);
  }

  /** Send what is batched, end the stream for this writer and wait for the server's confirmation. Idempotent. */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closed = true;
    this.closing = this.impl.close();
    return this.closing;
  }
}

class LocalConsumer implements ConsumerImpl {
  private readonly stream: string;
  private left = false;

  constructor(
    private readonly server: TensorFlightServer,
    options: LocalFlightOptions,
  ) {
    this.stream = checkStream(options.stream);
    server.stream(this.stream).attach();
  }

  async push(t: Tensor, signal: AbortSignal | undefined): Promise<void> {
    const info = checkTensorData(t);
    if (t.dtype === 'bool') checkBool(t.data as Uint8Array);
    const max = this.server.maxMessageBytes;
    const record = encodedByteLength(t);
    if (record > max) throw tooLargeError('tensor record', record, max);
    // The copy (the caller may reuse its tensor), in the dtype's own typed array.
    const data = new info.array(t.data.length);
    new Uint8Array(data.buffer).set(tensorBytes(t));
    await this.server.putTensor({ dtype: t.dtype, shape: Array.from(t.shape), data } as Tensor, { stream: this.stream, signal });
  }

  async close(): Promise<void> {
    if (this.left) return;
    this.left = true;
    this.server.stream(this.stream).detach();
  }
}

class NetworkConsumer implements ConsumerImpl {
  private readonly s: ClientSettings;
  private readonly writer = randomUUID();
  private readonly batchRows: number;
  private readonly highWaterMark: number;
  private readonly direct: boolean;
  private call: PutCall | undefined;
  private failure: HarmonicsError | undefined;
  private tail: Promise<void> = RESOLVED;
  private inflight = 0;
  private roomWaiter: (() => void) | undefined;
  private batch: Batch | undefined;
  private flushScheduled = false;
  private established = false;
  private stopConnectWatch: (() => void) | undefined;
  /** Calls not finished yet. */
  private readonly live = new Set<PutCall>();

  constructor(host: string, port: number, options: FlightConsumerOptions) {
    checkPositive('batchRows', options.batchRows);
    checkPositive('highWaterMark', options.highWaterMark);
    this.s = makeClient(host, port, options);
    this.batchRows = Math.floor(options.batchRows ?? 1);
    this.highWaterMark = options.highWaterMark ?? 8 * 1024 * 1024;
    this.direct = options.directWrites !== false && this.s.fast;
  }

  push(t: Tensor, signal: AbortSignal | undefined): Promise<void> {
    let layout: SendLayout;
    try {
      checkTensorData(t);
      if (t.dtype === 'bool') checkBool(t.data as Uint8Array);
      layout = this.layoutOf(t);
      const record = recordHeaderLength(t.shape.length) + layout.rowBytes;
      if (record > this.s.maxMessageBytes) throw tooLargeError('tensor record', record, this.s.maxMessageBytes);
    } catch (err) {
      return Promise.reject(err);
    }
    const bytes = tensorBytes(t);
    if (this.batchRows > 1) return this.addToBatch(layout, bytes);
    const c = this.call;
    if (this.inflight === 0 && c !== undefined && !c.done && c.layout === layout && this.failure === undefined && c.pending <= this.highWaterMark) {
      const msg = this.message(layout, [bytes], 1);
      this.write(c, msg);
      return msg instanceof LazyFlightData ? this.copiedOrDone(msg, c) : RESOLVED;
    }
    return this.enqueue(() => this.send(layout, [bytes], 1, signal));
  }

  /** The send layout of `t`: the one in use when dtype and shape match (no key built per tensor), else the cached one. */
  private layoutOf(t: Tensor): SendLayout {
    const cur = this.batch?.layout ?? this.call?.layout;
    if (cur !== undefined && cur.dtype === t.dtype && sameShape(cur.shape, t.shape)) return cur;
    return cachedLayout(t.dtype, t.shape);
  }

  private enqueue(run: () => Promise<void>): Promise<void> {
    this.inflight++;
    const p = this.tail.then(run, run);
    this.tail = p.then(this.settled, this.settled);
    return p;
  }

  private readonly settled = (): void => {
    this.inflight--;
  };

  private addToBatch(layout: SendLayout, bytes: Uint8Array): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    let flushFirst: Promise<void> | undefined;
    if (this.batch !== undefined && this.batch.layout.key !== layout.key) flushFirst = this.flushBatch();
    if (this.batch === undefined) {
      const limit = Math.min(MAX_BATCH_BYTES, this.s.maxMessageBytes);
      const capacity = layout.rowBytes === 0 ? this.batchRows : Math.max(1, Math.min(this.batchRows, Math.floor(limit / layout.rowBytes)));
      this.batch = { layout, buf: new Uint8Array(layout.rowBytes * capacity), rows: 0, capacity };
    }
    const b = this.batch;
    b.buf.set(bytes, b.rows * layout.rowBytes);
    b.rows++;
    if (b.rows === b.capacity) return Promise.all([flushFirst, this.flushBatch()]).then(noop);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flushBatch().catch(noop); // reported by the next push() or close()
      });
    }
    return flushFirst ?? RESOLVED;
  }

  /** Send the batch being built (its tensors are already copied), after everything queued before it. */
  private flushBatch(): Promise<void> {
    const b = this.batch;
    if (b === undefined || b.rows === 0) return RESOLVED;
    this.batch = undefined;
    const data = b.buf.subarray(0, b.rows * b.layout.rowBytes);
    return this.enqueue(() => this.send(b.layout, [data], b.rows, undefined)).catch((err: unknown) => {
      this.failure ??= err instanceof HarmonicsError ? err : callError(err, 'DoPut', this.s.target, this.established);
      throw err;
    });
  }

  private message(layout: SendLayout, body: Uint8Array[], rows: number): Buffer | LazyFlightData {
    const bytes = rows * layout.rowBytes;
    return flightData({ header: batchHeader(layout, rows), body, bodyLength: (bytes + 7) & ~7 }, this.s.fast);
  }

  private write(c: PutCall, msg: Buffer | LazyFlightData): void {
    const len = msg.length;
    c.pending += len;
    c.sizes.push(len);
    const h2 = c.h2;
    if (h2 === undefined) {
      c.stream.write(msg as Buffer, c.written);
      return;
    }
    directWrites.client++;
    if (msg instanceof LazyFlightData) {
      // The tensors are written as they are: push() resolves once they are out (the caller may then reuse them).
      msg.released = new Promise<void>((resolve) =>
        writeMessage(h2, msg, () => {
          c.written();
          resolve();
        }),
      );
    } else writeMessage(h2, msg, c.written);
  }

  private wakeRoom(): void {
    const w = this.roomWaiter;
    this.roomWaiter = undefined;
    w?.();
  }

  private copiedOrDone(msg: LazyFlightData, c: PutCall): Promise<void> {
    if (msg.released !== undefined) return Promise.race([msg.released, c.finished]);
    return msg.isCopied ? RESOLVED : Promise.race([msg.copied, c.finished]);
  }

  private async send(layout: SendLayout, body: Uint8Array[], rows: number, signal: AbortSignal | undefined): Promise<void> {
    while (true) {
      if (signal?.aborted) throw abortError(signal, 'FlightConsumer.push()');
      if (this.failure !== undefined) throw this.failure;
      let c = this.call;
      if (c !== undefined && c.done) {
        this.failure ??= callError(c.error ?? 'the server ended the DoPut call early', 'DoPut', this.s.target, this.established);
        continue;
      }
      if (c === undefined || c.layout.key !== layout.key) {
        if (c !== undefined) await this.endCall(c);
        c = await this.open(layout);
        continue;
      }
      if (c.pending <= this.highWaterMark) {
        const msg = this.message(layout, body, rows);
        this.write(c, msg);
        if (msg instanceof LazyFlightData) await this.copiedOrDone(msg, c);
        return;
      }
      await waitFor(
        (wake) => {
          this.roomWaiter = wake;
          return () => {
            if (this.roomWaiter === wake) this.roomWaiter = undefined;
          };
        },
        signal,
        'FlightConsumer.push()',
      );
    }
  }

  /** Half-close a DoPut and wait for the server's status: OK means it has every tensor sent on it. */
  private async endCall(c: PutCall): Promise<void> {
    this.call = undefined;
    if (!c.done) c.stream.end();
    await c.finished;
    if (c.error !== undefined) {
      this.failure ??= callError(c.error, 'DoPut', this.s.target, this.established);
      throw this.failure;
    }
  }

  private async open(layout: SendLayout): Promise<PutCall> {
    // The channel connects with the first call: watch that it gets ready.
    this.stopConnectWatch ??= watchConnect(this.s, (err) => {
      this.failure ??= err;
      // The current call, or one close() is ending (no longer `this.call`): pushes through grpc-js resolve before it connects.
      for (const live of this.live) live.stream.cancel();
      this.wakeRoom();
    });
    const md = await this.s.metadata();
    md.set(WRITER_KEY, this.writer);
    let finish!: () => void;
    const c: PutCall = {
      stream: this.s.client.makeBidiStreamRequest<Buffer, Buffer>(methodPath('DoPut'), identity, identity, md, {}),
      layout,
      pending: 0,
      done: false,
      error: undefined,
      finished: new Promise<void>((r) => (finish = r)),
      sizes: new Ring<number>(),
      written: () => {
        c.pending -= c.sizes.shift() ?? 0;
        if (c.pending <= this.highWaterMark) this.wakeRoom();
      },
    };
    c.stream.on('metadata', () => {
      this.established = true;
    });
    c.stream.on('data', noop); // PutResults: nothing we need
    c.stream.on('error', noop); // reported through 'status'
    this.live.add(c);
    c.stream.on('status', (st: StatusObject) => {
      this.live.delete(c);
      c.done = true;
      if (st.code !== Status.OK) c.error = withErrorCode(st);
      finish();
      this.wakeRoom();
    });
    this.call = c;
    if (this.direct) c.h2 = await waitForClientStream(c.stream, () => c.done);
    const descriptor = encodeDescriptor({ type: DESCRIPTOR_PATH, path: [this.s.stream] });
    this.write(c, flightData({ descriptor, header: layout.schemaMessage, body: [], bodyLength: 0 }));
    return c;
  }

  async close(): Promise<void> {
    try {
      await this.flushBatch().catch(noop);
      await this.tail;
      if (this.failure !== undefined) throw this.failure;
      const c = this.call;
      if (c !== undefined) await this.endCall(c);
      await this.endWriter();
    } finally {
      this.stopConnectWatch?.();
      this.s.client.close();
      this.wakeRoom();
    }
  }

  /** Tell the server this writer is done (our server then ends the stream once no writer is left). Other servers may not know the action: ignored. */
  private async endWriter(): Promise<void> {
    const md = await this.s.metadata();
    const body = encodeUtf8(JSON.stringify({ stream: this.s.stream, writer: this.writer }));
    await new Promise<void>((resolve) => {
      const call = this.s.client.makeServerStreamRequest<Buffer, Buffer>(
        methodPath('DoAction'),
        identity,
        identity,
        encodeAction({ type: END_ACTION, body }),
        md,
        { deadline: Date.now() + 10_000 },
      );
      call.on('data', noop);
      call.on('error', noop);
      call.on('status', () => resolve());
    });
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
