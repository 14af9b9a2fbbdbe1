import { abortError } from '@harmonics/internal';

/** A call waiting in a queue of `T`s (pending pushes or reads), which its signal can take out. */
export interface Waiting {
  reject: (err: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** Queue `w`; if its signal aborts first, it leaves the queue and rejects `ERR_ABORTED` (naming `what`). */
export function enqueue<W extends Waiting>(queue: W[], w: W, what: string): void {
  if (w.signal) {
    w.onAbort = () => {
      const i = queue.indexOf(w);
      if (i >= 0) queue.splice(i, 1);
      w.reject(abortError(w.signal, what));
    };
    w.signal.addEventListener('abort', w.onAbort, { once: true });
  }
  queue.push(w);
}

/** Stop listening to `w`'s signal: it is being settled. */
export function release(w: Waiting): void {
  if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
}
