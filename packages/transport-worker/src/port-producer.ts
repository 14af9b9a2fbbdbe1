import {
  BaseProducer,
  type AbortOptions,
  DEFAULT_MAX_MESSAGE_BYTES,
  HarmonicsError,
  type Tensor,
  isDType,
  recordHeaderLength,
  tensor,
} from '@harmonics/core';
import { Ring, abortError, checkPositive, closedError, noop, tooLargeError } from '@harmonics/internal';
import { type Endpoint, type PeerGone, goneText, listen } from './endpoint.js';
import { type Waiting, enqueue, release } from './waiters.js';
import { DEFAULT_CHANNEL, DEFAULT_WINDOW_BYTES, PROTOCOL_VERSION, type TensorMessage, costOf, ours } from './protocol.js';

/** Options of {@link PortProducer}. */
export interface PortProducerOptions {
  /**
   * Credit window: bytes (data plus about 1 KiB a message) the writer may
   * have sent beyond what `next()` has returned. The writer's `push()` waits
   * beyond it, so a reader that stops reading holds at most this much (plus
   * one tensor). Default 64 MiB.
   */
  windowBytes?: number;
  /** The channel's name, when one endpoint carries several channels. Both ends must agree. Default `'harmonics'`. */
  channel?: string;
  /** Largest record (header + data) accepted; a larger one makes `next()` reject `ERR_TOO_LARGE`. Default 256 MiB. */
  maxMessageBytes?: number;
  /**
   * A `Worker` (or port) to watch besides the endpoint: its exit or failure
   * counts as the writer vanishing. For a port to a browser worker, which
   * does not tell the page when the worker fails; pass the `Worker`.
   */
  peer?: Endpoint;
}

type Waiter = Waiting & { resolve: (t: Tensor | undefined) => void };

/**
 * Receives the tensors a {@link PortConsumer} sends, over a `MessagePort`, a
 * `Worker`, a worker's global scope or Node's `worker_threads` equivalents.
 * Transferred tensors arrive without a copy: the data is the sender's
 * `ArrayBuffer`.
 *
 * `next()` resolves `undefined` once the writer closed and the queue is
 * drained, and rejects `ERR_CONNECTION_LOST` (after what already arrived) when
 * the writer's thread ends or its port closes without an end of stream.
 */
export class PortProducer extends BaseProducer {
  private readonly channel: string;
  private readonly window: number;
  private readonly maxMessageBytes: number;
  private readonly queue = new Ring<Tensor>();
  private readonly waiters: Waiter[] = [];
  private taken = 0;
  private ended = false;
  private closed = false;
  private failure: HarmonicsError | undefined;
  private unlisten: (() => void) | undefined;

  constructor(
    private readonly endpoint: Endpoint,
    options: PortProducerOptions = {},
  ) {
    super();
    checkPositive('windowBytes', options.windowBytes);
    checkPositive('maxMessageBytes', options.maxMessageBytes);
    this.channel = options.channel ?? DEFAULT_CHANNEL;
    this.window = options.windowBytes ?? DEFAULT_WINDOW_BYTES;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const unlisten = listen(endpoint, this.onMessage, this.onGone);
    const unwatch = options.peer ? listen(options.peer, noop, this.onGone) : noop;
    this.unlisten = () => {
      unlisten();
      unwatch();
    };
    endpoint.postMessage({ h: this.channel, k: 'c', b: this.window, v: PROTOCOL_VERSION });
  }

  private readonly onMessage = (data: unknown): void => {
    const m = ours(data, this.channel);
    if (m === undefined || this.closed || this.ended || this.failure) return;
    if (m.k === 't') {
      let t: Tensor;
      try {
        t = this.accept(m);
      } catch (err) {
        this.stop(err as HarmonicsError);
        return;
      }
      const w = this.waiters.shift();
      if (w) this.deliver(w, t);
      else this.queue.push(t);
    } else if (m.k === 'e') {
      this.ended = true;
      this.detach();
      for (const w of this.waiters.splice(0)) this.settle(w, undefined);
    }
  };

  private accept(m: TensorMessage): Tensor {
    if (!isDType(m.d) || !Array.isArray(m.s) || !ArrayBuffer.isView(m.a)) {
      throw new HarmonicsError(
        'ERR_PROTOCOL',
        `a message on channel '${this.channel}' is not a tensor from a PortConsumer; is something else posting on it?`,
      );
    }
    const t = tensor(m.d, m.s, m.a);
    const bytes = recordHeaderLength(m.s.length) + t.data.byteLength;
    if (bytes > this.maxMessageBytes) throw tooLargeError('tensor record', bytes, this.maxMessageBytes);
    return t;
  }

  private readonly onGone = (gone: PeerGone): void => {
    if (this.closed || this.ended || this.failure) return;
    this.stop(new HarmonicsError('ERR_CONNECTION_LOST', `${goneText(gone)} before the writer ended its stream`));
  };

  /** Fail after what already arrived: queued tensors are still returned, then the error. */
  private stop(err: HarmonicsError): void {
    this.failure = err;
    this.detach();
    if (this.queue.length === 0) for (const w of this.waiters.splice(0)) this.settle(w, undefined, err);
  }

  private detach(): void {
    this.unlisten?.();
    this.unlisten = undefined;
  }

  private settle(w: Waiter, t: Tensor | undefined, err?: unknown): void {
    release(w);
    if (err !== undefined) w.reject(err);
    else if (t !== undefined) this.deliver(w, t);
    else w.resolve(undefined);
  }

  private deliver(w: Waiter, t: Tensor): void {
    release(w);
    this.credit(t);
    w.resolve(t);
  }

  /** Count what the caller took and grant it back in batches of half a window. */
  private credit(t: Tensor): void {
    this.taken += costOf(t);
    if (this.taken >= this.window / 2 && this.unlisten !== undefined) {
      const b = this.taken;
      this.taken = 0;
      this.endpoint.postMessage({ h: this.channel, k: 'c', b, v: PROTOCOL_VERSION });
    }
  }

  protected override readReady(): Tensor | undefined {
    if (this.closed || this.queue.length === 0) return undefined;
    const t = this.queue.shift()!;
    this.credit(t);
    return t;
  }

  protected read(options?: AbortOptions): Promise<Tensor | undefined> {
    if (this.closed) return Promise.reject(closedError('this PortProducer'));
    if (options?.signal?.aborted) return Promise.reject(abortError(options.signal, 'next()'));
    const ready = this.readReady();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => enqueue(this.waiters, { resolve, reject, signal: options?.signal }, 'next()'));
  }

  /**
   * Stop reading: pending `next()` calls reject `ERR_CLOSED`, queued tensors
   * are dropped, and the writer is told, so its pushes reject `ERR_CLOSED`.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = closedError('this PortProducer');
    for (const w of this.waiters.splice(0)) this.settle(w, undefined, err);
    while (this.queue.length > 0) this.queue.shift();
    if (this.unlisten !== undefined) {
      this.detach();
      try {
        this.endpoint.postMessage({ h: this.channel, k: 'x' });
      } catch {
        // The channel is gone already.
      }
    }
  }
}
