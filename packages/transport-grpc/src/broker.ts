// The queue of a GrpcServer: what PushTensor calls and local pushes feed and
// PopTensor calls and local pops drain, as in the C++ library's broker. Each
// tensor goes to exactly one reader.
import { HarmonicsError, type Tensor } from '@harmonics/core';
import { Ring } from '@harmonics/internal';

export type BrokerState = 'open' | 'ended' | 'failed';

/** How long the writer count may sit at zero before the stream ends: lets a client replace its call. */
export const WRITER_GRACE_MS = 100;

export class Broker {
  private readonly queue = new Ring<Tensor>();
  private queuedBytes = 0;
  private readonly itemWaiters = new Set<() => void>();
  private readonly roomWaiters = new Set<() => void>();
  private writers = 0;
  private lastLeaveClean = true;
  private graceTimer: ReturnType<typeof setTimeout> | undefined;
  state: BrokerState = 'open';
  failure: HarmonicsError | undefined;

  constructor(
    readonly capacity: number,
    readonly maxQueuedBytes: number,
    private readonly endWithLastWriter: boolean,
  ) {}

  get size(): number {
    return this.queue.length;
  }

  /** True while a writer should wait: over either limit (an empty queue always takes one tensor). */
  get full(): boolean {
    return this.queue.length > 0 && (this.queue.length >= this.capacity || this.queuedBytes >= this.maxQueuedBytes);
  }

  /** Queue a tensor, whatever the limits (callers check `full` first, or have already received it). */
  put(t: Tensor): void {
    this.queue.push(t);
    this.queuedBytes += t.data.byteLength;
    this.wake(this.itemWaiters);
  }

  /** The next tensor, or `undefined` when the queue is empty (check `state` then). */
  take(): Tensor | undefined {
    const t = this.queue.shift();
    if (t !== undefined) {
      this.queuedBytes -= t.data.byteLength;
      if (this.roomWaiters.size > 0 && !this.full) this.wake(this.roomWaiters);
    }
    return t;
  }

  /** Call `fn` once when a tensor arrives or the state changes. Returns the canceller. */
  onItem(fn: () => void): () => void {
    this.itemWaiters.add(fn);
    return () => this.itemWaiters.delete(fn);
  }

  /** Call `fn` once when there is room again or the state changes. Returns the canceller. */
  onRoom(fn: () => void): () => void {
    this.roomWaiters.add(fn);
    return () => this.roomWaiters.delete(fn);
  }

  private wake(set: Set<() => void>): void {
    const fns = [...set];
    set.clear();
    for (const fn of fns) fn();
  }

  attachWriter(): void {
    this.writers++;
    if (this.graceTimer !== undefined) {
      clearTimeout(this.graceTimer);
      this.graceTimer = undefined;
    }
    // A writer that comes back after its predecessor broke resumes the stream.
    if (this.state === 'failed') {
      this.state = 'open';
      this.failure = undefined;
    }
  }

  /**
   * A writer is done: `clean` when its call half-closed (or its local view
   * closed), else it broke. When the last one has left and none has come back
   * within the grace period, the stream ends (clean) or fails (broken), so
   * readers never wait on a writer that is gone.
   */
  detachWriter(clean: boolean, reason?: string): void {
    this.writers--;
    this.lastLeaveClean = clean;
    if (this.writers > 0 || this.state !== 'open') return;
    if (!clean || this.endWithLastWriter) {
      this.graceTimer = setTimeout(() => {
        this.graceTimer = undefined;
        if (this.writers > 0 || this.state !== 'open') return;
        if (this.lastLeaveClean) this.end();
        else {
          this.fail(
            new HarmonicsError(
              'ERR_CONNECTION_LOST',
              `the last writer of this GrpcServer went away without finishing (${reason ?? 'its call broke'}); tensors it sent after the last one read may be lost`,
            ),
          );
        }
      }, WRITER_GRACE_MS);
      this.graceTimer.unref?.();
    }
  }

  /** No more tensors: readers drain the queue and then see the end. */
  end(): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.failure = undefined;
    this.wake(this.itemWaiters);
    this.wake(this.roomWaiters);
  }

  /** The writers broke: readers drain the queue and then get `err`. */
  fail(err: HarmonicsError): void {
    if (this.state !== 'open') return;
    this.state = 'failed';
    this.failure = err;
    this.wake(this.itemWaiters);
  }

  /** Stop timers (server shutdown). */
  /** Stop the grace timer and drop what is still queued (the server closed), so that nothing holds its memory. */
  dispose(): void {
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    while (this.queue.shift() !== undefined);
    this.queuedBytes = 0;
  }
}
