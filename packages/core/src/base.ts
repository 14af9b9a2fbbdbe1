import type { AbortOptions, Consumer, Producer } from './contract.js';
import type { Tensor } from './tensor.js';

/**
 * Base for producers: implement `next()` and `close()`; async iteration (which
 * closes on `break`) and `await using` come from here.
 */
export abstract class BaseProducer implements Producer {
  abstract next(options?: AbortOptions): Promise<Tensor | undefined>;
  abstract close(): Promise<void>;

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
