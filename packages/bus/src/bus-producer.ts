import { type AbortOptions, BaseProducer, type Tensor } from '@harmonics/core';
import { closedError } from '@harmonics/internal';
import type { MessageBus } from './message-bus.js';

/**
 * Reads tensors from a {@link MessageBus} (by reference: the tensor is the
 * very object that was sent). Several producers on one bus share its tensors:
 * each tensor goes to one of them.
 */
export class BusProducer extends BaseProducer {
  private closed = false;

  constructor(private readonly bus: MessageBus) {
    super();
  }

  /** The next tensor; `undefined` once the bus is closed and drained. Overlapping calls are served in order. */
  override next(options?: AbortOptions): Promise<Tensor | undefined> {
    // The bus queues waiting readers in call order, so no extra serialisation is needed.
    return this.read(options);
  }

  protected read(options?: AbortOptions): Promise<Tensor | undefined> {
    if (this.closed) return Promise.reject(closedError('the producer'));
    return this.bus.receiveAs(options?.signal, this);
  }

  /** Stop reading (the bus stays open for others); a waiting `next()` rejects `ERR_CLOSED`. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.bus.cancelWaiters(this, 'the producer');
  }
}
