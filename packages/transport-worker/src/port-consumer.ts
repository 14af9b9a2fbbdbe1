import { BaseConsumer, type AbortOptions, HarmonicsError, type Tensor, encodedByteLength, DEFAULT_MAX_MESSAGE_BYTES } from '@harmonics/core';
import { abortError, checkPositive, closedError, noop, tooLargeError } from '@harmonics/internal';
import { type Endpoint, type PeerGone, goneText, listen } from './endpoint.js';
import { type Waiting, enqueue, release } from './waiters.js';
import { DEFAULT_CHANNEL, type TensorMessage, costOf, ours, transferable } from './protocol.js';

/** Options of {@link PortConsumer}. */
export interface PortConsumerOptions {
  /**
   * Copy every tensor instead of transferring its buffer. Default `false`:
   * a tensor whose typed array covers a whole `ArrayBuffer` is transferred
   * (no copy; the caller's view is detached once `push()` resolves). Views
   * into a larger or shared buffer are always copied.
   */
  copy?: boolean;
  /** The channel's name, when one endpoint carries several channels. Both ends must agree. Default `'harmonics'`. */
  channel?: string;
  /** Largest record (header + data) `push()` accepts; larger ones reject `ERR_TOO_LARGE`. Default 256 MiB. */
  maxMessageBytes?: number;
  /**
   * A `Worker` (or port) to watch besides the endpoint: its exit or failure
   * counts as the reader vanishing. For a port to a browser worker, which
   * does not tell the page when the worker fails; pass the `Worker`.
   */
  peer?: Endpoint;
}

/** A push (with its tensor) or a `whenWritable()` (without) waiting for credit, in call order. */
type Waiter = Waiting & { resolve: () => void; tensor?: Tensor };

/**
 * Sends tensors over anything that speaks `postMessage` to a {@link PortProducer}
 * on the other side: a `MessagePort`, a `Worker`, a worker's global scope, or
 * Node's `worker_threads` equivalents.
 *
 * Flow control: the reader grants credit in bytes (its `windowBytes`); `push()`
 * posts at once while credit lasts and waits for more otherwise, so a slow
 * reader bounds what the writer's thread holds. The first push waits for the
 * reader's first grant (its hello).
 */
export class PortConsumer extends BaseConsumer {
  private readonly channel: string;
  private readonly copy: boolean;
  private readonly maxMessageBytes: number;
  private credit = 0;
  private greeted = false;
  private closed = false;
  private failure: HarmonicsError | undefined;
  private readonly waiters: Waiter[] = [];
  private readonly unlisten: () => void;

  constructor(
    private readonly endpoint: Endpoint,
    options: PortConsumerOptions = {},
  ) {
    super();
    checkPositive('maxMessageBytes', options.maxMessageBytes);
    this.channel = options.channel ?? DEFAULT_CHANNEL;
    this.copy = options.copy === true;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const unlisten = listen(endpoint, this.onMessage, this.onGone);
    const unwatch = options.peer ? listen(options.peer, noop, this.onGone) : noop;
    this.unlisten = () => {
      unlisten();
      unwatch();
    };
  }

  /** Bytes the reader currently allows beyond what is in flight (negative: over its window by one tensor). */
  get availableCredit(): number {
    return this.credit;
  }

  private readonly onMessage = (data: unknown): void => {
    const m = ours(data, this.channel);
    if (m === undefined || this.closed) return;
    if (m.k === 'c') {
      this.greeted = true;
      this.credit += m.b;
      this.wake();
    } else if (m.k === 'x') {
      this.fail(new HarmonicsError('ERR_CLOSED', 'the reading side (PortProducer) closed; nothing more can be sent on this channel'));
    }
  };

  private readonly onGone = (gone: PeerGone): void => {
    if (this.closed) return;
    this.fail(new HarmonicsError('ERR_CONNECTION_LOST', `${goneText(gone)}; tensors pushed after the reader's last one are lost`));
  };

  private fail(err: HarmonicsError): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.unlisten();
    for (const w of this.waiters.splice(0)) this.settle(w, err);
  }

  private settle(w: Waiter, err?: unknown): void {
    release(w);
    if (err === undefined) w.resolve();
    else w.reject(err);
  }

  /** Post waiting pushes, in order, while credit lasts (each takes its cost at once, so the window holds). */
  private wake(): void {
    while (this.waiters.length > 0 && this.credit > 0) {
      const w = this.waiters.shift()!;
      if (w.tensor === undefined) {
        this.settle(w);
        continue;
      }
      try {
        this.post(w.tensor);
      } catch (err) {
        this.settle(w, err);
        continue;
      }
      this.settle(w);
    }
  }

  /** Resolves once the reader has room (credit) for another tensor. */
  whenWritable(options?: AbortOptions): Promise<void> {
    if (this.closed) return Promise.reject(closedError('this PortConsumer'));
    if (this.failure) return Promise.reject(this.failure);
    if (options?.signal?.aborted) return Promise.reject(abortError(options.signal, 'push()'));
    if (this.greeted && this.credit > 0 && this.waiters.length === 0) return Promise.resolve();
    return this.wait(undefined, options?.signal);
  }

  private wait(tensor: Tensor | undefined, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => enqueue(this.waiters, { resolve, reject, tensor, signal }, 'push()'));
  }

  push(t: Tensor, options?: AbortOptions): Promise<void> {
    if (this.closed) return Promise.reject(closedError('this PortConsumer'));
    if (this.failure) return Promise.reject(this.failure);
    if (options?.signal?.aborted) return Promise.reject(abortError(options.signal, 'push()'));
    let size: number;
    try {
      size = encodedByteLength(t);
    } catch (err) {
      return Promise.reject(err);
    }
    if (size > this.maxMessageBytes) return Promise.reject(tooLargeError('tensor record', size, this.maxMessageBytes));
    if (this.greeted && this.credit > 0 && this.waiters.length === 0) {
      try {
        this.post(t);
      } catch (err) {
        return Promise.reject(err);
      }
      return Promise.resolve();
    }
    return this.wait(t, options?.signal);
  }

  private post(t: Tensor): void {
    const data = t.data;
    const cost = costOf(t); // before a transfer detaches the data
    const move = !this.copy && transferable(data);
    const a = move ? data : data.slice();
    const m: TensorMessage = { h: this.channel, k: 't', d: t.dtype, s: t.shape, a };
    // A copy's buffer is ours: transfer it too, so the structured clone does not copy it again.
    if (a.byteLength > 0) this.endpoint.postMessage(m, [a.buffer]);
    else this.endpoint.postMessage(m);
    this.credit -= cost;
  }

  /**
   * Tell the reader the stream ended (after everything pushed so far) and
   * stop listening. A `push()` still waiting for credit rejects `ERR_CLOSED`.
   * The endpoint itself is left open: it may be shared, and Node lets go of a
   * port nobody listens to.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = closedError('this PortConsumer');
    for (const w of this.waiters.splice(0)) this.settle(w, err);
    if (this.failure === undefined) {
      this.unlisten();
      try {
        this.endpoint.postMessage({ h: this.channel, k: 'e' });
      } catch {
        // The endpoint is gone already: the reader learns it from the channel closing.
      }
    }
  }
}
