import type { AbortOptions, Consumer, Producer } from './contract.js';
import type { Tensor } from './tensor.js';

/**
 * Base for producers: implement `read()` (called one at a time, never
 * overlapping) and `close()`. `next()` serves overlapping calls in call order;
 * async iteration (closing on `break`) and `await using` come from here.
 */
export abstract class BaseProducer implements Producer {
  private current: Promise<unknown> = Promise.resolve();
  private inflight = 0;

  /** Produce the next tensor, or `undefined` at a clean end. Never called while a previous call is pending. */
  protected abstract read(options?: AbortOptions): Promise<Tensor | undefined>;
  abstract close(): Promise<void>;

  /**
   * A tensor that is already decoded and can be returned without waiting, or
   * `undefined`. Optional fast path: called only when no `read()` is pending;
   * on any problem it returns `undefined` and `read()` reports it.
   */
  protected readReady(): Tensor | undefined {
    return undefined;
  }

  next(options?: AbortOptions): Promise<Tensor | undefined> {
    if (this.inflight === 0 && options?.signal?.aborted !== true) {
      const ready = this.readReady();
      if (ready !== undefined) return Promise.resolve(ready);
    }
    // Only overlapping calls pay for chaining (a closure and a promise).
    let p: Promise<Tensor | undefined>;
    if (this.inflight++ === 0) p = this.read(options);
    else {
      const run = (): Promise<Tensor | undefined> => this.read(options);
      p = this.current.then(run, run);
    }
    this.current = p;
    p.then(this.settled, this.settled);
    return p;
  }

  private readonly settled = (): void => {
    this.inflight--;
  };

  [Symbol.asyncIterator](): AsyncIterator<Tensor> {
    return {
      next: async () => {
        const value = await this.next();
        return value === undefined ? { done: true, value: undefined } : { done: false, value };
      },
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Base for consumers: implement `push()` and `close()`; `await using` comes from here. */
export abstract class BaseConsumer implements Consumer {
  abstract push(tensor: Tensor, options?: AbortOptions): Promise<void>;
  abstract close(): Promise<void>;

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
