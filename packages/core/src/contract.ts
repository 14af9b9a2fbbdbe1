import type { Tensor } from './tensor.js';

/** Every async operation takes an optional `signal`; aborting rejects it with `ERR_ABORTED`. */
export interface AbortOptions {
  signal?: AbortSignal;
}

/**
 * The reading half of a transport: yields tensors in order.
 *
 * - `next()` resolves `undefined` only at a clean end of stream; a broken
 *   medium, a corrupt record, a timeout or a vanished peer reject with a
 *   `HarmonicsError`. A tensor it returns belongs to the caller.
 * - `for await (const t of producer)` works; breaking out closes the producer.
 * - `await using p = new SomeProducer(...)` closes it at scope exit.
 */
export interface Producer extends AsyncIterable<Tensor>, AsyncDisposable {
  next(options?: AbortOptions): Promise<Tensor | undefined>;
  /** Number of tensors, when the medium knows it (a file does). */
  readonly size?: number;
  /** Release the medium. Idempotent. Pending and later `next()` calls reject `ERR_CLOSED`. */
  close(): Promise<void>;
}

/**
 * The writing half of a transport.
 *
 * - `push()` resolves when the medium has taken the tensor (backpressure: a
 *   slow reader slows the writer instead of growing memory). After it
 *   resolves, the library no longer reads the tensor's data.
 * - `close()` flushes, then ends the stream so the reader sees a clean end.
 *   Idempotent. `push()` after `close()` rejects `ERR_CLOSED`.
 */
export interface Consumer extends AsyncDisposable {
  push(tensor: Tensor, options?: AbortOptions): Promise<void>;
  close(): Promise<void>;
}
