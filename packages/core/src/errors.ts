/**
 * Every error Harmonics raises is a {@link HarmonicsError} with a stable
 * `code`. Match on `code`, never on the message text: messages say what
 * happened and what to do, and may be reworded.
 */
export type ErrorCode =
  | 'ERR_TRUNCATED'
  | 'ERR_TOO_LARGE'
  | 'ERR_BAD_DTYPE'
  | 'ERR_BAD_SHAPE'
  | 'ERR_BAD_MAGIC'
  | 'ERR_HANDSHAKE'
  | 'ERR_CONNECT'
  | 'ERR_CONNECTION_LOST'
  | 'ERR_TIMEOUT'
  | 'ERR_CLOSED'
  | 'ERR_ABORTED'
  | 'ERR_UNSUPPORTED_SCHEME'
  | 'ERR_TRANSPORT_NOT_INSTALLED'
  | 'ERR_PROTOCOL'
  | 'ERR_INVALID_ARGUMENT';

// Transports bundle core's building blocks (@harmonics/internal) at build
// time, so an error may come from a copy of this class: `instanceof` checks a
// brand shared by every copy (Symbol.for), not the prototype chain.
const BRAND = Symbol.for('@harmonics/core.HarmonicsError');

/** The one error class of Harmonics: a stable {@link ErrorCode} plus an optional `cause`. */
export class HarmonicsError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HarmonicsError';
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** `err instanceof HarmonicsError` holds for errors of every copy of this class. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
  }
}

/** True when `err` is a {@link HarmonicsError}, optionally with the given code. */
export function isHarmonicsError(err: unknown, code?: ErrorCode): err is HarmonicsError {
  return err instanceof HarmonicsError && (code === undefined || err.code === code);
}

/**
 * The rejection for an aborted operation: `ERR_ABORTED`, with the signal's
 * reason as `cause`.
 */
export function abortError(signal: AbortSignal | undefined, what: string): HarmonicsError {
  return new HarmonicsError('ERR_ABORTED', `${what} was aborted`, { cause: signal?.reason });
}

/** The rejection for using something after `close()`. */
export function closedError(what: string): HarmonicsError {
  return new HarmonicsError('ERR_CLOSED', `${what} is closed; create a new one to continue`);
}

/** The rejection for a record or message over the configured limit. */
export function tooLargeError(what: string, bytes: number, limit: number): HarmonicsError {
  return new HarmonicsError('ERR_TOO_LARGE', `${what} of ${bytes} bytes exceeds maxMessageBytes (${limit}); raise it with { maxMessageBytes }`);
}

/** The rejection for a bad option or argument, thrown at the call: `ERR_INVALID_ARGUMENT`. */
export function invalidArgument(message: string): HarmonicsError {
  return new HarmonicsError('ERR_INVALID_ARGUMENT', message);
}

/** Throw `ERR_INVALID_ARGUMENT` unless `value` (when given) is a finite number above 0 (or at least 0 with `allowZero`). */
export function checkPositive(name: string, value: unknown, allowZero = false): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (value === 0 && !allowZero)) {
    throw invalidArgument(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${String(value)}`);
  }
}
