import { abortError } from '@harmonics/internal';

/**
 * Wait until the callback handed to `register` runs, or reject ERR_ABORTED
 * when `signal` aborts first. `register` returns its canceller, which runs
 * either way (so no registration outlives the wait).
 */
export function waitFor(register: (wake: () => void) => () => void, signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // `let`, not `const`: register() may call the wake-up synchronously, before `cancel` is assigned.
    // eslint-disable-next-line prefer-const
    let cancel: (() => void) | undefined;
    const onAbort = (): void => {
      cancel?.();
      reject(abortError(signal, what));
    };
    cancel = register(() => {
      cancel?.();
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
