import { abortError, closedError } from './errors.js';
import { throwIfAborted } from './abort.js';

interface AcceptWaiter<T> {
  resolve(item: T): void;
  reject(err: unknown): void;
}

/**
 * What a server's `accept()` needs: incoming items wait for an `accept()`, or
 * `accept()` calls wait for an item, in arrival order; aborting a waiting
 * `accept()` removes it; `close()` rejects every waiter. Shared by the socket
 * and WebSocket servers.
 */
export class AcceptQueue<T> {
  private readonly pending: T[] = [];
  private readonly waiters: AcceptWaiter<T>[] = [];
  private closed = false;

  constructor(
    /** For messages: "the server", "the WebSocket server". */
    private readonly what: string,
    private readonly maxPending: number,
  ) {}

  /** Items waiting to be accepted. */
  get size(): number {
    return this.pending.length;
  }

  /**
   * Hand `item` to a waiting `accept()`, or queue it. Returns `'taken'`,
   * `'queued'`, or `'refused'` (closed, or `maxPending` items already wait).
   */
  offer(item: T): 'taken' | 'queued' | 'refused' {
    if (this.closed) return 'refused';
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.resolve(item);
      return 'taken';
    }
    if (this.pending.length >= this.maxPending) return 'refused';
    this.pending.push(item);
    return 'queued';
  }

  /** Drop a queued item (its connection went away before anyone accepted it). */
  remove(item: T): void {
    const i = this.pending.indexOf(item);
    if (i >= 0) this.pending.splice(i, 1);
  }

  /**
   * The next item (waits for one).
   * @throws HarmonicsError `ERR_CLOSED` once closed; `ERR_ABORTED`.
   */
  accept(signal?: AbortSignal): Promise<T> {
    if (this.closed) return Promise.reject(closedError(this.what));
    try {
      throwIfAborted(signal, 'accept()');
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.pending.length > 0) return Promise.resolve(this.pending.shift()!);
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(abortError(signal, 'accept()'));
      };
      const waiter: AcceptWaiter<T> = {
        resolve: (item) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(item);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Reject every waiting `accept()` with `ERR_CLOSED`; returns the items nobody accepted. Idempotent. */
  close(): T[] {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(closedError(this.what));
    return this.pending.splice(0);
  }
}
