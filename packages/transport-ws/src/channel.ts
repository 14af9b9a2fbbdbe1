// The browser-safe heart of the transport: a Producer and a Consumer over
// anything that behaves like a WebSocket (the browser's, or `ws` in Node),
// reached through a small adapter. One record (DESIGN §4) per binary message.
import {
  type AbortOptions,
  BaseConsumer,
  BaseProducer,
  DEFAULT_MAX_MESSAGE_BYTES,
  HarmonicsError,
  type Tensor,
  decodeTensor,
  encodeTensor,
  encodeTensorInto,
  encodeTensorParts,
  encodedByteLength,
} from '@harmonics/core';
import { Ring, abortError, closedError, decodeTensorInPlace, parseRecordHeader, tensorFromRecordData, tooLargeError } from '@harmonics/internal';

/** Close codes of RFC 6455 that we send or read. */
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_UNSUPPORTED_DATA = 1003;
export const CLOSE_ABNORMAL = 1006;
export const CLOSE_INVALID_PAYLOAD = 1007;
export const CLOSE_TOO_BIG = 1009;

/** What the producer and consumer need of a WebSocket; one adapter for the browser's, one for `ws`. */
export interface SocketAdapter {
  /** Where it connects or came from, for messages. */
  readonly where: string;
  /** Resolves when the connection is open; rejects with a HarmonicsError if it never opens. */
  readonly opened: Promise<void>;
  /**
   * A binary message as one buffer or as the payloads of its frames (Node), or
   * a text message. `owned`: the bytes are ours to change (a view of a socket
   * chunk nothing else reads), so misaligned data may be moved in place.
   */
  onMessage(fn: (data: Uint8Array | readonly Uint8Array[] | string, owned?: boolean) => void): void;
  /** `code` and `reason` of the close, `error` when the connection failed. */
  onClose(fn: (code: number, reason: string, error?: HarmonicsError) => void): void;
  send(data: Uint8Array, done: (err?: Error) => void): void;
  /**
   * Send `header` and `data` as one message in two frames, without joining
   * them; `done` once `data` has been written to the network and its buffer
   * may be reused (Node only).
   */
  sendParts?(header: Uint8Array, data: Uint8Array, done: (err?: Error) => void): void;
  /** Memory for one outgoing record (Node: a Buffer, which `send` takes without wrapping it). */
  alloc?(byteLength: number): Uint8Array;
  /**
   * Encode a small record of `byteLength` bytes straight into the outgoing
   * frames, batched per tick; false when it cannot now (then `send`). Node
   * server side only, where frames are not masked.
   */
  sendTensor?(t: Tensor, byteLength: number): boolean;
  bufferedAmount(): number;
  close(code: number, reason: string): void;
  /** Drop the connection without a close handshake. */
  terminate(): void;
  /** Stop reading from the network (Node only; absent in browsers). */
  pause?(): void;
  resume?(): void;
  /** Wake `fn` when `bufferedAmount()` may have dropped. */
  onDrain(fn: () => void): void;
}

/** Options shared by both sides. */
export interface WebSocketChannelOptions {
  /** Largest record sent or received. Default 256 MiB. */
  maxMessageBytes?: number;
  /** How long `close()` waits for the peer's close frame before dropping the connection. Default 5000 ms. */
  closeTimeoutMs?: number;
  /**
   * Clients: give up when the connection and the WebSocket upgrade are not
   * done within this many ms (`ERR_CONNECT`), so a server that accepts the
   * connection and never answers is not waited on forever. Default 10 000.
   */
  connectTimeoutMs?: number;
  /**
   * Node: ping the peer after this many ms without hearing from it (browsers
   * answer pings by themselves; they cannot send them). Default 20 000; 0
   * turns keepalive off.
   */
  keepAliveMs?: number;
  /**
   * Node: drop the connection with `ERR_CONNECTION_LOST` when nothing was
   * heard from the peer (no message, ping or pong) and it took none of our
   * bytes for this many ms, so a peer that vanished without closing (cable
   * pulled, machine frozen) is noticed. Not counted while we hold its data
   * back ourselves. Default 60 000 (at least 3 × `keepAliveMs`).
   */
  idleTimeoutMs?: number;
}

/** The default {@link WebSocketChannelOptions.connectTimeoutMs}: 10 s (core's, for every network client). */
export { DEFAULT_CONNECT_TIMEOUT_MS } from '@harmonics/core';

/** Options of a consumer. */
export interface WebSocketConsumerOptions extends WebSocketChannelOptions {
  /** `push()` waits while more than this many bytes are buffered. Default 4 MiB. */
  highWaterMark?: number;
}

export type WebSocketProducerOptions = WebSocketChannelOptions;

/** The error a close code stands for, or undefined for a clean close. */
export function closeError(code: number, reason: string, where: string): HarmonicsError | undefined {
  if (code === CLOSE_NORMAL) return undefined;
  const why = `${where} closed with code ${code}${reason ? ` (${reason})` : ''}`;
  switch (code) {
    case CLOSE_UNSUPPORTED_DATA:
    case CLOSE_INVALID_PAYLOAD:
      return new HarmonicsError('ERR_PROTOCOL', `${why}: the peer refused our data`);
    case CLOSE_TOO_BIG:
      return new HarmonicsError('ERR_TOO_LARGE', `${why}: a message exceeded the peer's limit; raise maxMessageBytes on both sides`);
    default:
      return new HarmonicsError('ERR_CONNECTION_LOST', `${why}; the connection was lost`);
  }
}

function waitClosed(adapter: SocketAdapter, state: { closed: boolean; wake?: () => void }, timeoutMs: number): Promise<void> {
  if (state.closed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      adapter.terminate();
      resolve();
    }, timeoutMs);
    state.wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

/**
 * A producer stops reading from the network (Node) while this many bytes of
 * received tensors, or this many tensors, wait for `next()`; it reads again
 * below half. High enough that a reader keeping up never pauses the socket
 * (each pause and resume costs a trip through the event loop).
 */
const PAUSE_BYTES = 4 * 1024 * 1024;
const PAUSE_COUNT = 4096;

/**
 * One record from the payloads of a message's frames. A record sent as a
 * header frame and a data frame (as our Node senders do for large tensors)
 * decodes without joining: the data frame's buffer becomes the tensor's
 * memory when it is aligned. Any other split is joined first.
 */
export function decodeFrames(frames: readonly Uint8Array[], maxMessageBytes: number): Tensor {
  if (frames.length === 1) return decodeTensor(frames[0]!, { maxMessageBytes });
  const first = frames[0]!;
  if (frames.length === 2) {
    const header = parseRecordHeader(first, 0, first.length, maxMessageBytes);
    if (typeof header !== 'number' && first.length === header.headerLength && frames[1]!.length === header.byteLength) {
      return tensorFromRecordData(header, frames[1]!, 0);
    }
  }
  let total = 0;
  for (const f of frames) total += f.length;
  const joined = new Uint8Array(total);
  let at = 0;
  for (const f of frames) {
    joined.set(f, at);
    at += f.length;
  }
  return decodeTensor(joined, { maxMessageBytes });
}

/** Tensors at least this large go out as header + data frames from a reused buffer, where the adapter can. */
const PARTS_SEND_BYTES = 64 * 1024;

/** A large record on its way out: its header, and its data copied into a buffer taken from the pool. */
interface Parts {
  header: Uint8Array;
  data: Uint8Array;
  buffer: Uint8Array;
}

/**
 * Send buffers for large tensors, reused once the socket has written them:
 * copying into memory that is already mapped costs a fraction of what a
 * fresh allocation does (page faults), and the caller may reuse its tensor
 * as soon as `push()` resolves. Holds at most `limit` idle bytes.
 */
class SendBuffers {
  private readonly idle: Uint8Array[] = [];
  private idleBytes = 0;

  constructor(private readonly limit: number) {}

  take(n: number): Uint8Array {
    for (let i = 0; i < this.idle.length; i++) {
      const b = this.idle[i]!;
      if (b.byteLength >= n) {
        this.idle.splice(i, 1);
        this.idleBytes -= b.byteLength;
        return b;
      }
    }
    return new Uint8Array(n);
  }

  give(b: Uint8Array): void {
    if (this.idleBytes + b.byteLength > this.limit) return;
    this.idle.push(b);
    this.idleBytes += b.byteLength;
  }

  clear(): void {
    this.idle.length = 0;
    this.idleBytes = 0;
  }
}

/**
 * Tensors from a WebSocket: one record per binary message. A clean close
 * (1000) ends the stream after the queued tensors; anything else rejects.
 * A text message or a message that is not exactly one valid record rejects
 * `ERR_PROTOCOL` and closes the connection with 1003 or 1007.
 */
export class WebSocketChannelProducer extends BaseProducer {
  private readonly queue = new Ring<Tensor>();
  private ended = false;
  private failure: HarmonicsError | undefined;
  private closed = false;
  private paused = false;
  private queuedBytes = 0;
  private wake: (() => void) | undefined;
  private readonly conn = { closed: false, wake: undefined as (() => void) | undefined };
  private readonly maxMessageBytes: number;
  private readonly closeTimeoutMs: number;

  constructor(
    protected readonly adapter: SocketAdapter,
    options: WebSocketProducerOptions = {},
  ) {
    super();
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5000;
    adapter.opened.catch((err: HarmonicsError) => this.fail(err));
    adapter.onMessage((data, owned) => this.onMessage(data, owned === true));
    adapter.onClose((code, reason, error) => {
      this.conn.closed = true;
      this.conn.wake?.();
      if (this.failure !== undefined || this.ended) return;
      const err = error ?? closeError(code, reason, adapter.where);
      if (err === undefined) this.ended = true;
      else this.failure = err;
      this.notify();
    });
  }

  private onMessage(data: Uint8Array | readonly Uint8Array[] | string, owned: boolean): void {
    if (this.failure !== undefined || this.closed) return;
    if (typeof data === 'string') {
      this.fail(
        new HarmonicsError('ERR_PROTOCOL', `${this.adapter.where} sent a text message; tensors travel as binary messages, one record each`),
        CLOSE_UNSUPPORTED_DATA,
      );
      return;
    }
    let t: Tensor;
    try {
      if (owned) t = decodeTensorInPlace(data as Uint8Array, this.maxMessageBytes);
      else if (data instanceof Uint8Array) t = decodeTensor(data, { maxMessageBytes: this.maxMessageBytes });
      else t = decodeFrames(data, this.maxMessageBytes);
    } catch (err) {
      const e = err as HarmonicsError;
      const code = e.code === 'ERR_TOO_LARGE' ? CLOSE_TOO_BIG : CLOSE_INVALID_PAYLOAD;
      this.fail(
        e.code === 'ERR_TOO_LARGE'
          ? e
          : new HarmonicsError('ERR_PROTOCOL', `${this.adapter.where} sent a binary message that is not one valid record: ${e.message}`, {
              cause: err,
            }),
        code,
      );
      return;
    }
    this.queue.push(t);
    this.queuedBytes += t.data.byteLength;
    if ((this.queuedBytes >= PAUSE_BYTES || this.queue.length >= PAUSE_COUNT) && this.adapter.pause && !this.paused) {
      this.paused = true;
      this.adapter.pause();
    }
    this.notify();
  }

  private fail(err: HarmonicsError, closeCode?: number): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    if (closeCode !== undefined) this.adapter.close(closeCode, err.code);
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Tensor, undefined at the end, or null when nothing is there yet; throws failures after the queue. */
  private poll(): Tensor | undefined | null {
    if (this.closed) throw closedError('WebSocketProducer');
    const t = this.queue.shift();
    if (t !== undefined) {
      this.queuedBytes -= t.data.byteLength;
      if (this.paused && this.queuedBytes < PAUSE_BYTES / 2 && this.queue.length < PAUSE_COUNT / 2) {
        this.paused = false;
        this.adapter.resume?.();
      }
      return t;
    }
    if (this.failure !== undefined) throw this.failure;
    if (this.ended) return undefined;
    return null;
  }

  protected override readReady(): Tensor | undefined {
    try {
      return this.poll() ?? undefined;
    } catch {
      return undefined;
    }
  }

  protected async read(options?: AbortOptions): Promise<Tensor | undefined> {
    const signal = options?.signal;
    for (;;) {
      if (signal?.aborted) throw abortError(signal, 'WebSocketProducer.next()');
      const got = this.poll();
      if (got !== null) return got;
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          this.wake = undefined;
          reject(abortError(signal, 'WebSocketProducer.next()'));
        };
        this.wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  /** Close the connection (normal closure, waiting for the peer's close frame up to `closeTimeoutMs`). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.notify();
    await this.adapter.opened.catch(() => undefined);
    if (!this.conn.closed) this.adapter.close(CLOSE_NORMAL, '');
    await waitClosed(this.adapter, this.conn, this.closeTimeoutMs);
  }
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Sends tensors over a WebSocket, one record per binary message. `push()`
 * resolves once the message is handed to the socket, waiting first while
 * more than `highWaterMark` bytes are buffered. `close()` sends a normal
 * closure and waits for the peer's (up to `closeTimeoutMs`).
 */
export class WebSocketChannelConsumer extends BaseConsumer {
  private readonly maxMessageBytes: number;
  private readonly highWaterMark: number;
  private readonly closeTimeoutMs: number;
  private isOpen = false;
  private failure: HarmonicsError | undefined;
  private failureReported = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private tail: Promise<void> = RESOLVED;
  private inflight = 0;
  private readonly conn = { closed: false, wake: undefined as (() => void) | undefined };
  private drainWaiter: (() => void) | undefined;
  private readonly sendBuffers: SendBuffers;

  constructor(
    protected readonly adapter: SocketAdapter,
    options: WebSocketConsumerOptions = {},
  ) {
    super();
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.highWaterMark = options.highWaterMark ?? 4 * 1024 * 1024;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5000;
    this.sendBuffers = new SendBuffers(Math.max(2 * this.highWaterMark, 16 * 1024 * 1024));
    adapter.opened.then(
      () => (this.isOpen = true),
      (err: HarmonicsError) => (this.failure ??= err),
    );
    adapter.onMessage(() => undefined); // a consumer ignores what the peer sends
    adapter.onClose((code, reason, error) => {
      this.conn.closed = true;
      this.conn.wake?.();
      // A close with an error code is reported even while we are closing: the
      // peer refused something we sent (1003, 1007, 1009) or the link broke.
      const err = error ?? closeError(code, reason, adapter.where);
      if (err !== undefined) this.failure ??= err;
      else if (!this.closed) {
        this.failure ??= new HarmonicsError('ERR_CONNECTION_LOST', `${adapter.where} closed the connection while we were sending`);
      }
      this.wakeDrain();
    });
    adapter.onDrain(() => this.wakeDrain());
  }

  private wakeDrain(): void {
    const w = this.drainWaiter;
    this.drainWaiter = undefined;
    w?.();
  }

  push(t: Tensor, options?: AbortOptions): Promise<void> {
    if (this.closed) return Promise.reject(closedError('WebSocketConsumer'));
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal, 'WebSocketConsumer.push()'));
    let record: Uint8Array | Parts;
    try {
      const bytes = encodedByteLength(t);
      if (bytes > this.maxMessageBytes) throw tooLargeError('tensor record', bytes, this.maxMessageBytes);
      const ready = this.inflight === 0 && this.isOpen && this.failure === undefined && this.adapter.bufferedAmount() <= this.highWaterMark;
      // Small records, when the adapter can, are encoded straight into its outgoing frames.
      if (ready && this.adapter.sendTensor?.(t, bytes) === true) return RESOLVED;
      // Else the one copy, so the caller may reuse the tensor at once: large ones into a
      // reused buffer sent as a frame of its own after the header's, others with the header.
      if (this.adapter.sendParts !== undefined && t.data.byteLength >= PARTS_SEND_BYTES) record = this.copyParts(t);
      else if (this.adapter.alloc !== undefined) {
        record = this.adapter.alloc(bytes);
        encodeTensorInto(t, record);
      } else record = encodeTensor(t);
      if (ready) {
        this.send(record);
        return RESOLVED;
      }
    } catch (err) {
      return Promise.reject(err);
    }
    this.inflight++;
    const run = (): Promise<void> => this.slowPush(record, signal);
    const p = this.tail.then(run, run);
    this.tail = p.then(this.settled, this.settled);
    return p;
  }

  private readonly settled = (): void => {
    this.inflight--;
  };

  private readonly onSent = (err?: Error): void => {
    if (err) this.failure ??= new HarmonicsError('ERR_CONNECTION_LOST', `sending to ${this.adapter.where} failed: ${err.message}`, { cause: err });
    this.wakeDrain();
  };

  private copyParts(t: Tensor): Parts {
    const [header, data] = encodeTensorParts(t);
    const buffer = this.sendBuffers.take(data.byteLength);
    const copy = buffer.subarray(0, data.byteLength);
    copy.set(data);
    return { header, data: copy, buffer };
  }

  private send(record: Uint8Array | Parts): void {
    if (record instanceof Uint8Array) {
      this.adapter.send(record, this.onSent);
      return;
    }
    this.adapter.sendParts!(record.header, record.data, (err) => {
      this.onSent(err);
      this.sendBuffers.give(record.buffer);
    });
  }

  private async slowPush(record: Uint8Array | Parts, signal: AbortSignal | undefined): Promise<void> {
    if (!this.isOpen) await this.adapter.opened.catch(() => undefined);
    for (;;) {
      if (signal?.aborted) throw abortError(signal, 'WebSocketConsumer.push()');
      if (this.failure !== undefined) {
        this.failureReported = true;
        throw this.failure;
      }
      if (this.adapter.bufferedAmount() <= this.highWaterMark) {
        this.send(record);
        return;
      }
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          this.drainWaiter = undefined;
          reject(abortError(signal, 'WebSocketConsumer.push()'));
        };
        this.drainWaiter = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  /** Flush, send a normal closure and wait for the peer's close frame (up to `closeTimeoutMs`). Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.finish();
    return this.closing;
  }

  private async finish(): Promise<void> {
    this.closed = true;
    await this.tail.catch(() => undefined);
    await this.adapter.opened.catch(() => undefined);
    if (!this.conn.closed) this.adapter.close(CLOSE_NORMAL, '');
    await waitClosed(this.adapter, this.conn, this.closeTimeoutMs);
    this.sendBuffers.clear();
    const failure = this.failure;
    // A failure no push() reported yet: the last tensors may not have arrived.
    if (failure !== undefined && !this.failureReported) throw failure;
  }
}
