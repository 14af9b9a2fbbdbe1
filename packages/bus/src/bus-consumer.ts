import { type AbortOptions, BaseConsumer, type Tensor } from '@harmonics/core';
import { closedError } from '@harmonics/internal';
import type { MessageBus } from './message-bus.js';

/**
 * Writes tensors to a {@link MessageBus} by reference (no copy: do not modify
 * a tensor after pushing it). `push()` waits while a bounded bus is full.
 */
export class BusConsumer extends BaseConsumer {
  private closed = false;

  constructor(private readonly bus: MessageBus) {
    super();
    bus.attachConsumer();
  }

  push(tensor: Tensor, options?: AbortOptions): Promise<void> {
    if (this.closed) return Promise.reject(closedError('the consumer'));
    return this.bus.sendAs(tensor, options?.signal, this);
  }

  /**
   * Stop writing. When this was the bus's last open consumer (and the bus was
   * made with the default `endWithLastConsumer`), the bus ends: readers drain
   * it and then see `undefined`. A push still waiting for room rejects `ERR_CLOSED`. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.bus.cancelWaiters(this, 'the consumer');
    this.bus.detachConsumer();
  }
}
