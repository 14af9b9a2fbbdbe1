import { type AbortOptions, HarmonicsError, type Tensor } from '@harmonics/core';
import { Ring, abortError, closedError } from '@harmonics/internal';
import { BusConsumer } from './bus-consumer.js';
import { BusProducer } from './bus-producer.js';

/** Options of {@link MessageBus}. */
export interface MessageBusOptions {
  /**
   * Most tensors queued at once; `send()` waits while the bus is full.
   * Default `Infinity`: unbounded, like the C++ library's bus — a producer
   * faster than its readers then grows memory, so set a capacity for streams.
   */
  capacity?: number;
  /**
   * End the bus (as `close()` does) once every `BusConsumer` made by
   * `consumer()` has closed, so readers see end of stream when the writers are
   * done. Default true; with false only `close()` ends it.
   */
  endWithLastConsumer?: boolean;
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  done: boolean;
  owner: object | undefined;
}

interface SendWaiter extends Waiter<void> {
  tensor: Tensor;
}

const RESOLVED: Promise<void> = /* @__PURE__ */ Promise.resolve();
const ENDED: Promise<undefined> = /* @__PURE__ */ Promise.resolve(undefined);

/**
 * An in-process FIFO of tensors shared by any number of producers and
 * consumers. Tensors pass by reference: no copy, no serialization, so a
 * sender must not modify a tensor after sending it. Browser- and worker-safe.
 *
 * Ending: `close()` (or the last `BusConsumer` closing) stops new sends;
 * readers drain what is queued and then get `undefined`.
 */
export class MessageBus {
  readonly capacity: number;
  private readonly endWithLastConsumer: boolean;
  private readonly queue = new Ring<Tensor>();
  private readonly receivers = new Ring<Waiter<Tensor | undefined>>();
  private readonly senders = new Ring<SendWaiter>();
  private ended = false;
  private openConsumers = 0;

  constructor(options: MessageBusOptions = {}) {
    const capacity = options.capacity ?? Infinity;
    if (!(capacity >= 1)) {
      throw new HarmonicsError('ERR_INVALID_ARGUMENT', `MessageBus capacity must be at least 1, got ${capacity}`);
    }
    this.capacity = capacity;
    this.endWithLastConsumer = options.endWithLastConsumer ?? true;
  }

  /** Tensors queued now. */
  get size(): number {
    return this.queue.length;
  }

  /** True once the bus no longer accepts tensors. */
  get closed(): boolean {
    return this.ended;
  }

  /**
   * Queue a tensor (by reference). Resolves at once while there is room,
   * else when a reader makes room.
   * @throws HarmonicsError `ERR_CLOSED` once the bus is closed (also for a send
   *   still waiting for room when it closes); `ERR_ABORTED` when the signal fires first.
   */
  send(tensor: Tensor, options?: AbortOptions): Promise<void> {
    return this.sendAs(tensor, options?.signal, undefined);
  }

  /**
   * Take the next tensor; waits while the bus is empty. Resolves `undefined`
   * once the bus is closed and drained.
   * @throws HarmonicsError `ERR_ABORTED` when the signal fires while waiting (nothing is taken).
   */
  receive(options?: AbortOptions): Promise<Tensor | undefined> {
    return this.receiveAs(options?.signal, undefined);
  }

  /** Stop accepting tensors; waiting readers get `undefined` once the queue is drained. Idempotent. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    for (let w = this.receivers.shift(); w !== undefined; w = this.receivers.shift()) settle(w, undefined, undefined);
    for (let w = this.senders.shift(); w !== undefined; w = this.senders.shift()) {
      settle(w, undefined, closedError('the bus'));
    }
  }

  /** A Producer that reads from this bus. */
  producer(): BusProducer {
    return new BusProducer(this);
  }

  /** A Consumer that writes to this bus (see `endWithLastConsumer`). */
  consumer(): BusConsumer {
    return new BusConsumer(this);
  }

  /** @internal */
  attachConsumer(): void {
    this.openConsumers++;
  }

  /** @internal */
  detachConsumer(): void {
    if (--this.openConsumers === 0 && this.endWithLastConsumer) this.close();
  }

  /** @internal `owner` tags waiters so a closing producer or consumer can cancel its own. */
  sendAs(tensor: Tensor, signal: AbortSignal | undefined, owner: object | undefined): Promise<void> {
    if (this.ended) return Promise.reject(closedError('the bus'));
    if (signal?.aborted) return Promise.reject(abortError(signal, 'send()'));
    // Hand straight to a waiting reader, skipping readers that gave up.
    for (let w = this.receivers.shift(); w !== undefined; w = this.receivers.shift()) {
      if (!w.done) {
        settle(w, tensor, undefined);
        return RESOLVED;
      }
    }
    if (this.queue.length < this.capacity) {
      this.queue.push(tensor);
      return RESOLVED;
    }
    return new Promise<void>((resolve, reject) => {
      const w: SendWaiter = { resolve, reject, signal, onAbort: undefined, done: false, owner, tensor };
      watchAbort(w, 'send()');
      this.senders.push(w);
    });
  }

  /** @internal */
  receiveAs(signal: AbortSignal | undefined, owner: object | undefined): Promise<Tensor | undefined> {
    if (signal?.aborted) return Promise.reject(abortError(signal, 'next()'));
    const t = this.queue.shift();
    if (t !== undefined) {
      this.admitSender();
      return Promise.resolve(t);
    }
    if (this.ended) return ENDED;
    return new Promise<Tensor | undefined>((resolve, reject) => {
      const w: Waiter<Tensor | undefined> = { resolve, reject, signal, onAbort: undefined, done: false, owner };
      watchAbort(w, 'next()');
      this.receivers.push(w);
    });
  }

  /** @internal Reject the waiters `owner` left behind with `ERR_CLOSED`. */
  cancelWaiters(owner: object, what: string): void {
    const err = closedError(what);
    for (const ring of [this.receivers, this.senders] as Ring<Waiter<unknown>>[]) {
      for (let n = ring.length; n > 0; n--) {
        const w = ring.shift()!;
        if (w.owner === owner && !w.done) settle(w, undefined, err);
        else if (!w.done) ring.push(w);
      }
    }
  }

  private admitSender(): void {
    for (let w = this.senders.shift(); w !== undefined; w = this.senders.shift()) {
      if (!w.done) {
        this.queue.push(w.tensor);
        settle(w, undefined, undefined);
        return;
      }
    }
  }
}

function watchAbort<T>(w: Waiter<T>, what: string): void {
  const signal = w.signal;
  if (signal === undefined) return;
  w.onAbort = () => settle(w, undefined as T, abortError(signal, what));
  signal.addEventListener('abort', w.onAbort, { once: true });
}

/** The one exit of a waiter: removes its abort listener, marks it done (so queues skip it), settles it. */
function settle<T>(w: Waiter<T>, value: T, err: unknown): void {
  if (w.done) return;
  w.done = true;
  if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
  if (err !== undefined) w.reject(err);
  else w.resolve(value);
}
