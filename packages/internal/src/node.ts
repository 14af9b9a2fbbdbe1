// Node-only building blocks (@harmonics/internal/node). They live here, not in
// core's sources, because they import Node modules and core stays browser-safe.
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HarmonicsError, checkPositive } from '../../core/src/errors.js';

/** What grpc-js's public `Server.createConnectionInjector()` returns, structurally (any grpc-js ≥ 1.10). */
export interface ConnectionInjectorLike {
  injectConnection(connection: Duplex): void;
}

/** Servers' default `maxConnections`. */
export const DEFAULT_MAX_CONNECTIONS = 1024;
/** Servers' default `handshakeTimeoutMs`: a connection that has not begun HTTP/2 by then is closed. */
export const DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS = 10_000;
/** The HTTP/2 client connection preface (RFC 9113 §3.4) is 24 bytes; a TLS ClientHello is longer. */
const PREFACE_BYTES = 24;

export interface Http2ListenOptions {
  host: string;
  port: number;
  /** Connections open at once; the next one is reset (TCP RST) at once. */
  maxConnections?: number;
  /** A connection that has sent fewer than 24 bytes this long after it opened is closed; 0: never. */
  handshakeTimeoutMs?: number;
}

/**
 * The TCP listener in front of a grpc-js server: it accepts connections
 * itself and hands them to grpc-js through the public connection injector,
 * so it can bound what grpc-js does not: how many connections are open at
 * once, and how long a connection may stay open without starting HTTP/2
 * (grpc-js's idle limit only counts once a session exists).
 */
export class Http2Listener {
  /** Connections reset because `maxConnections` were open. */
  refused = 0;
  /** Connections closed because they had not started HTTP/2 within `handshakeTimeoutMs`. */
  silentClosed = 0;
  private readonly sockets = new Set<Socket>();
  private readonly server: NetServer = createServer();
  private bound = 0;

  private constructor() {}

  /** The port listened on. */
  get port(): number {
    return this.bound;
  }

  /** Listen on `host:port`; rejects `ERR_CONNECT` when the address cannot be bound. */
  static async listen(injector: ConnectionInjectorLike, options: Http2ListenOptions): Promise<Http2Listener> {
    checkPositive('maxConnections', options.maxConnections);
    checkPositive('handshakeTimeoutMs', options.handshakeTimeoutMs, true);
    const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    const handshakeMs = options.handshakeTimeoutMs ?? DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS;
    const host = options.host.startsWith('[') && options.host.endsWith(']') ? options.host.slice(1, -1) : options.host;
    const listener = new Http2Listener();
    const net = listener.server;
    net.on('connection', (socket: Socket) => {
      if (listener.sockets.size >= maxConnections) {
        listener.refused++;
        socket.resetAndDestroy();
        return;
      }
      listener.track(socket, handshakeMs);
      injector.injectConnection(socket);
    });
    listener.bound = await new Promise<number>((resolve, reject) => {
      net.once('error', (err) =>
        reject(new HarmonicsError('ERR_CONNECT', `cannot listen on ${host}:${options.port}: ${err.message}`, { cause: err })),
      );
      net.listen({ host, port: options.port }, () => resolve((net.address() as { port: number }).port));
    });
    net.on('error', () => {}); // accept errors (EMFILE…) are retried by Node; the server stays up
    return listener;
  }

  /** Connections open now. */
  get connections(): number {
    return this.sockets.size;
  }

  private track(socket: Socket, handshakeMs: number): void {
    this.sockets.add(socket);
    socket.on('error', () => {}); // the HTTP/2 session reports its own errors
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (handshakeMs > 0) {
      timer = setTimeout(() => {
        if (socket.bytesRead >= PREFACE_BYTES) return;
        this.silentClosed++;
        socket.destroy();
      }, handshakeMs);
      timer.unref();
    }
    socket.once('close', () => {
      clearTimeout(timer);
      this.sockets.delete(socket);
    });
  }

  /** Stop accepting, and close the connections that never started HTTP/2 (grpc-js's shutdown would wait on them). */
  stopAccepting(): void {
    this.server.close();
    for (const s of this.sockets) if (s.bytesRead < PREFACE_BYTES) s.destroy();
  }

  /** Close every connection still open (after grpc-js's shutdown). */
  destroyAll(): void {
    this.server.close();
    for (const s of this.sockets) s.destroy();
  }
}
