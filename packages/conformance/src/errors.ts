import { isHarmonicsError } from '@harmonics/core';

/** What a HarmonicsError carried: its code and message. */
export interface CaughtError {
  code: string;
  message: string;
}

/**
 * Run `fn`; the HarmonicsError it throws as `{ code, message }`, or `undefined`
 * if it did not throw. Any other error is rethrown, so a test never mistakes a
 * crash for the expected failure.
 */
export function errorOfSync(fn: () => unknown): CaughtError | undefined {
  try {
    fn();
  } catch (err) {
    if (isHarmonicsError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  return undefined;
}

/** As {@link errorOfSync}, for a promise. */
export async function errorOf(p: Promise<unknown>): Promise<CaughtError | undefined> {
  try {
    await p;
  } catch (err) {
    if (isHarmonicsError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  return undefined;
}

/** The code of the HarmonicsError `fn` throws, or `undefined`. */
export function codeOfSync(fn: () => unknown): string | undefined {
  return errorOfSync(fn)?.code;
}

/** The code of the HarmonicsError `p` rejects with, or `undefined`. */
export async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return (await errorOf(p))?.code;
}
