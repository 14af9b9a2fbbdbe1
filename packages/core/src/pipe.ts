import type { AbortOptions, Consumer, Producer } from './contract.js';

/** Options of {@link pipe}. */
export interface PipeOptions extends AbortOptions {
  /** Close the producer when done (default true). */
  closeProducer?: boolean;
  /** Close (flush and end) the consumer when done (default true). */
  closeConsumer?: boolean;
}

/**
 * Move every tensor from `producer` to `consumer`, one at a time, so the
 * consumer's backpressure paces the producer; then close both. Resolves with
 * the number of tensors moved. On an error (or abort) both sides are still
 * closed and the first error is rethrown.
 */
export async function pipe(producer: Producer, consumer: Consumer, options: PipeOptions = {}): Promise<number> {
  const { signal } = options;
  let moved = 0;
  let failure: unknown;
  try {
    for (;;) {
      const t = await producer.next({ signal });
      if (t === undefined) break;
      await consumer.push(t, { signal });
      moved++;
    }
  } catch (err) {
    failure = err;
  }
  const closing: Promise<void>[] = [];
  if (options.closeProducer !== false) closing.push(producer.close());
  if (options.closeConsumer !== false) closing.push(consumer.close());
  const results = await Promise.allSettled(closing);
  if (failure !== undefined) throw failure;
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  return moved;
}
