// Option helpers the two gRPC-based transports (grpc, flight) share. Internal:
// exported through @harmonics/internal only, so they cost core's users nothing.
import { DEFAULT_MAX_MESSAGE_BYTES } from './codec.js';
import { HarmonicsError, checkPositive, invalidArgument } from './errors.js';

/** How long a keepalive ping may go unanswered before the connection is dropped, by default. */
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 20_000;

/** `maxMessageBytes`, or the deprecated `maxMessageSize`, checked; the default when neither is given. */
export function maxMessageBytesOf(options: { maxMessageBytes?: number; maxMessageSize?: number }): number {
  checkPositive('maxMessageBytes', options.maxMessageBytes);
  checkPositive('maxMessageSize', options.maxMessageSize);
  return options.maxMessageBytes ?? options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_BYTES;
}

/** grpc-js channel or server options for `keepAliveMs` / `keepAliveTimeoutMs` (`fallback` when unset; 0: none). */
export function keepAliveOptions(keepAliveMs: number | undefined, timeoutMs: number | undefined, fallback: number): Record<string, number> {
  checkPositive('keepAliveMs', keepAliveMs, true);
  checkPositive('keepAliveTimeoutMs', timeoutMs);
  const every = keepAliveMs ?? fallback;
  if (every === 0) return {};
  return { 'grpc.keepalive_time_ms': every, 'grpc.keepalive_timeout_ms': timeoutMs ?? DEFAULT_KEEPALIVE_TIMEOUT_MS };
}

/** Servers' default `idleTimeoutMs`: a connection with no call open for a minute is closed. */
export const DEFAULT_SERVER_IDLE_TIMEOUT_MS = 60_000;
/** Servers' default `maxConcurrentCalls` on one connection. */
export const DEFAULT_MAX_CONCURRENT_CALLS = 100;

/**
 * grpc-js server options for `idleTimeoutMs` (close a connection with no call
 * open that long; 0: never) and
 * `maxConcurrentCalls` (HTTP/2 streams one connection may open at once).
 */
export function serverLimitOptions(idleTimeoutMs: number | undefined, maxConcurrentCalls: number | undefined): Record<string, number> {
  checkPositive('idleTimeoutMs', idleTimeoutMs, true);
  checkPositive('maxConcurrentCalls', maxConcurrentCalls);
  const idle = idleTimeoutMs ?? DEFAULT_SERVER_IDLE_TIMEOUT_MS;
  return {
    ...(idle > 0 ? { 'grpc.max_connection_idle_ms': idle } : {}),
    'grpc.max_concurrent_streams': Math.floor(maxConcurrentCalls ?? DEFAULT_MAX_CONCURRENT_CALLS),
  };
}

/** Throw `ERR_INVALID_ARGUMENT` unless `port` is a TCP port a client can connect to. */
export function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalidArgument(`port must be an integer from 1 to 65535, got ${port}`);
}

/**
 * Call `fail` with `ERR_CONNECT` if `isReady()` is still false `ms` from now
 * (a black hole: the port accepts connections but nothing speaks HTTP/2
 * there). Returns the cancel function; the timer never keeps a process alive.
 */
export function watchHandshake(isReady: () => boolean, ms: number, what: string, target: string, fail: (err: HarmonicsError) => void): () => void {
  const timer = setTimeout(() => {
    if (isReady()) return;
    fail(
      new HarmonicsError(
        'ERR_CONNECT',
        `no ${what} server answered at ${target} within ${ms} ms (connectTimeoutMs): the port takes connections but nothing completed the HTTP/2 handshake`,
      ),
    );
  }, ms);
  (timer as { unref?: () => void }).unref?.(); // a watchdog: it never keeps a process alive by itself
  return () => clearTimeout(timer);
}
