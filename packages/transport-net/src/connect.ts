import { type Socket, connect as netConnect } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { DEFAULT_CONNECT_TIMEOUT_MS, HarmonicsError } from '@harmonics/core';
import { abortError, noop } from '@harmonics/internal';
import { type Endpoint, connectError, describeEndpoint } from './errors.js';
import type { OnreadSource } from './onread-source.js';

/** Options every connecting client takes. */
export interface ConnectOptions {
  /** Give up connecting after this long: `ERR_CONNECT`. Default 10 s. */
  connectTimeoutMs?: number;
  /** Connect over TLS with these options (Node's `tls.connect`: `ca`, `cert`, `key`, `servername`, …). */
  tls?: ConnectionOptions;
  /** Abort the connection attempt (and the connection). */
  signal?: AbortSignal;
}

/** A socket being connected, and the promise of the connection. */
export interface Connecting {
  socket: Socket;
  connected: Promise<void>;
  isConnected(): boolean;
}

/**
 * Start connecting to `endpoint` (TCP or Unix socket, over TLS if asked).
 * With `onread` (plain TCP and Unix sockets only), reads go through it.
 * `connected` rejects `ERR_CONNECT` (refused, unreachable, timed out; naming
 * the address), `ERR_HANDSHAKE` (TLS verification failed) or `ERR_ABORTED`.
 */
export function startConnect(endpoint: Endpoint, options: ConnectOptions = {}, onread?: OnreadSource): Connecting {
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const target = 'path' in endpoint ? { path: endpoint.path } : { host: endpoint.host, port: endpoint.port };
  const socket: Socket = options.tls
    ? tlsConnect({ ...target, ...options.tls, servername: options.tls.servername ?? ('host' in endpoint ? serverName(endpoint.host) : undefined) })
    : netConnect(onread ? { ...target, onread: onread.onread } : target);
  if (onread && !options.tls) onread.attach(socket);
  let connected = false;
  const promise = new Promise<void>((resolve, reject) => {
    const signal = options.signal;
    const done = (err?: HarmonicsError): void => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off(options.tls ? 'secureConnect' : 'connect', onConnect);
      signal?.removeEventListener('abort', onAbort);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        connected = true;
        resolve();
      }
    };
    const onConnect = (): void => done();
    const onError = (err: Error): void => done(connectError(err, endpoint));
    const onAbort = (): void => done(abortError(signal, `connecting to ${describeEndpoint(endpoint)}`));
    const timer = setTimeout(
      () =>
        done(
          new HarmonicsError('ERR_CONNECT', `cannot connect to ${describeEndpoint(endpoint)}: timed out after ${timeoutMs} ms (connectTimeoutMs)`),
        ),
      timeoutMs,
    );
    socket.once(options.tls ? 'secureConnect' : 'connect', onConnect);
    socket.on('error', onError);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  promise.catch(noop);
  // Errors after connecting belong to the producer/consumer; never let one crash the process.
  socket.on('error', noop);
  return { socket, connected: promise, isConnected: () => connected };
}

function serverName(host: string): string | undefined {
  // SNI takes host names, not IP literals.
  return /^[\d.]+$/.test(host) || host.includes(':') ? undefined : host;
}
