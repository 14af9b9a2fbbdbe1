import { HarmonicsError, abortError, closedError } from './errors.js';

/**
 * Settle with `promise`, unless `signal` aborts first (reject `ERR_ABORTED`) or
 * `closed` aborts first (reject `ERR_CLOSED`, naming `owner`). Every listener is removed on
 * every path; the original promise is left running (and its rejection handled),
 * so a caller can pick up its result later.
 */
export function raceSignals<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  what: string,
  closed?: AbortSignal,
  owner = 'the transport',
): Promise<T> {
  if (signal?.aborted) {
    promise.catch(noop);
    return Promise.reject(abortError(signal, what));
  }
  if (closed?.aborted) {
    promise.catch(noop);
    return Promise.reject(closedError(owner));
  }
  if (signal === undefined && closed === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const done = (err: HarmonicsError | undefined, value?: T, failure?: unknown): void => {
      signal?.removeEventListener('abort', onAbort);
      closed?.removeEventListener('abort', onClose);
      if (err) reject(err);
      else if (failure !== undefined) reject(failure);
      else resolve(value as T);
    };
    const onAbort = (): void => done(abortError(signal, what));
    const onClose = (): void => done(closedError(owner));
    signal?.addEventListener('abort', onAbort, { once: true });
    closed?.addEventListener('abort', onClose, { once: true });
    promise.then(
      (value) => done(undefined, value),
      (failure) => done(undefined, undefined, failure ?? new Error('rejected')),
    );
  });
}

/** Throw `ERR_ABORTED` when `signal` is already aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortError(signal, what);
}

export function noop(): void {}
