import { existsSync, unlinkSync } from 'node:fs';
import { type AddressInfo, type Server, type Socket, connect as netConnect, createServer } from 'node:net';
import { type TlsOptions, createServer as createTlsServer } from 'node:tls';
import type { AbortOptions, ListeningServer, ServerCloseOptions } from '@harmonics/core';
import { AcceptQueue, checkPositive } from '@harmonics/internal';
import { type Endpoint, connectError } from './errors.js';
import { SocketConsumer, type SocketConsumerOptions } from './socket-consumer.js';
import { SocketProducer, type SocketProducerOptions } from './socket-producer.js';

/** Options of {@link SocketServer.listen}. */
export interface SocketServerOptions extends SocketProducerOptions, SocketConsumerOptions {
  /** TCP port; 0 (the default when no `path`) picks a free one, read it from `server.port`. */
  port?: number;
  /** TCP host to bind; default `127.0.0.1` (loopback). Use `0.0.0.0` or `::` to accept from other machines. */
  host?: string;
  /** Listen on a Unix-domain socket at this path instead of TCP. A stale socket file left by a dead server is replaced. */
  path?: string;
  /**
   * Serve TLS with these options (Node's `tls.createServer`: `key`, `cert`,
   * `ca`, `requestCert`, …). A client whose handshake fails (plaintext, no
   * or an untrusted certificate) or does not finish within
   * `handshakeTimeout` (default here 10 s, not Node's 120 s) is reset, so it
   * gets an error rather than a clean end of stream.
   */
  tls?: TlsOptions;
  /**
   * Connections accepted by the kernel but not yet taken with `accept()`;
   * past this, new ones are closed. Default 128. A waiting connection reads
   * nothing (its writer is held back by TCP), so it costs kernel buffers only.
   */
  maxPending?: number;
  /**
   * Open connections (waiting and handed out) beyond which new ones are
   * reset, so their clients get `ERR_CONNECTION_LOST` rather than an empty
   * stream. Default 1024.
   */
  maxConnections?: number;
}

/**
 * A connection the server accepted. Turn it into a Producer (to read what the
 * peer sends) or a Consumer (to send to the peer); the same connection can be both.
 */
export class IncomingConnection {
  constructor(
    readonly socket: Socket,
    private readonly defaults: SocketProducerOptions & SocketConsumerOptions,
  ) {}

  /** Peer address, e.g. `127.0.0.1:53122` (or the socket path for Unix sockets). */
  get remoteAddress(): string {
    return this.socket.remoteAddress ? `${this.socket.remoteAddress}:${this.socket.remotePort}` : 'unix';
  }

  producer(options: SocketProducerOptions = {}): SocketProducer {
    return new SocketProducer(this.socket, { ...this.defaults, ...options });
  }

  consumer(options: SocketConsumerOptions = {}): SocketConsumer {
    return new SocketConsumer(this.socket, { ...this.defaults, ...options });
  }
}

/** Options of {@link SocketServer.close}. */
export interface SocketServerCloseOptions extends ServerCloseOptions {
  /**
   * Let connections already handed out run this long to finish, then drop
   * them. Without it (and without `closeConnections`) they stay open.
   */
  timeoutMs?: number;
  /** Drop connections already handed out at once. */
  closeConnections?: boolean;
}

/**
 * Accepts tensor connections over TCP, TLS or a Unix-domain socket (the C++
 * `SocketServer`). Connections queue until taken with `accept()`,
 * `acceptProducer()`, `acceptConsumer()` or `for await`.
 */
export class SocketServer implements AsyncIterable<IncomingConnection>, ListeningServer {
  private readonly queue: AcceptQueue<IncomingConnection>;
  private readonly handedOut = new Set<Socket>();
  private closed = false;
  private stopped: Promise<void> | undefined;
  /** TLS servers: the TCP socket under each TLS one, by remote address. */
  private readonly raw = new Map<string, Socket>();

  private constructor(
    private readonly server: Server,
    private readonly options: SocketServerOptions,
  ) {
    this.queue = new AcceptQueue('the server', options.maxPending ?? 128);
    server.on(options.tls ? 'secureConnection' : 'connection', (socket: Socket) => this.onConnection(socket));
    if (options.tls) {
      // tls.Server is a net.Server: its 'connection' event gives the TCP socket under each TLS one.
      // Limits are checked there, before TLS wraps it: a TCP socket under a live TLS one cannot be reset.
      server.prependListener('connection', (socket: Socket) => {
        if (this.full()) {
          socket.on('error', () => undefined);
          socket.resetAndDestroy();
          return;
        }
        const key = `${socket.remoteAddress}:${socket.remotePort}`;
        this.raw.set(key, socket);
        socket.once('close', () => this.raw.delete(key));
      });
      server.on('tlsClientError', (_err: Error, tlsSocket: Socket) => this.reset(tlsSocket, true));
    }
  }

  /**
   * Drop a connection with a reset, not a FIN: to a client a FIN is a clean
   * end (an empty stream to a reader, a reader that took everything to a
   * writer); a reset is `ERR_CONNECTION_LOST`.
   */
  private reset(socket: Socket, handshakeFailed = false): void {
    // The TCP socket under an established TLS one must not be reset (Node crashes); those get a FIN.
    const tcp = !this.options.tls ? socket : handshakeFailed ? this.raw.get(`${socket.remoteAddress}:${socket.remotePort}`) : undefined;
    if (tcp !== undefined && typeof tcp.resetAndDestroy === 'function' && !tcp.destroyed) tcp.resetAndDestroy();
    socket.destroy();
  }

  /**
   * Start listening; resolves once the server accepts connections.
   * @throws HarmonicsError `ERR_CONNECT` when the address cannot be bound (in use, no permission), naming it.
   */
  static async listen(options: SocketServerOptions = {}): Promise<SocketServer> {
    checkPositive('maxConnections', options.maxConnections);
    checkPositive('maxPending', options.maxPending);
    const server = options.tls ? createTlsServer({ handshakeTimeout: 10_000, ...options.tls }) : createServer();
    const endpoint: Endpoint = options.path !== undefined ? { path: options.path } : { host: options.host ?? '127.0.0.1', port: options.port ?? 0 };
    if (options.path !== undefined) await removeStaleSocket(options.path);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(connectError(err, endpoint, 'listen on')));
      if ('path' in endpoint) server.listen(endpoint.path, () => resolve());
      else server.listen(endpoint.port, endpoint.host, () => resolve());
    });
    server.on('error', () => undefined);
    return new SocketServer(server, options);
  }

  /** The TCP port listened on (`undefined` for a Unix socket). */
  get port(): number | undefined {
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? (a as AddressInfo).port : undefined;
  }

  /** The Unix socket path listened on, if any. */
  get path(): string | undefined {
    return this.options.path;
  }

  /**
   * The next incoming connection (waits for one).
   * @throws HarmonicsError `ERR_CLOSED` once the server is closed; `ERR_ABORTED`.
   */
  accept(options?: AbortOptions): Promise<IncomingConnection> {
    return this.queue.accept(options?.signal).then(this.handOut);
  }

  /** The next connection as a Producer: read what that peer sends. */
  async acceptProducer(options?: AbortOptions & SocketProducerOptions): Promise<SocketProducer> {
    return (await this.accept(options)).producer(options);
  }

  /** The next connection as a Consumer: send to that peer. */
  async acceptConsumer(options?: AbortOptions & SocketConsumerOptions): Promise<SocketConsumer> {
    return (await this.accept(options)).consumer(options);
  }

  /** Incoming connections until the server closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<IncomingConnection> {
    for (;;) {
      try {
        yield await this.accept();
      } catch (err) {
        if (this.closed) return;
        throw err;
      }
    }
  }

  /**
   * Stop listening. Connections not yet accepted are closed; waiting `accept()`
   * calls reject `ERR_CLOSED`. Connections already handed out stay open,
   * unless `timeoutMs` is given (they may run that long, then are dropped) or
   * `closeConnections` is true (dropped at once). Idempotent.
   */
  async close(options: SocketServerCloseOptions = {}): Promise<void> {
    checkPositive('timeoutMs', options.timeoutMs, true);
    if (!this.closed) {
      this.closed = true;
      for (const c of this.queue.close()) c.socket.destroy();
      this.stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    }
    const stopped = this.stopped!;
    if (options.timeoutMs !== undefined && !options.closeConnections && this.handedOut.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([stopped, new Promise<void>((resolve) => (timer = setTimeout(resolve, options.timeoutMs)))]);
      clearTimeout(timer);
    } else if (!options.closeConnections) {
      // Listening stops at once; the 'close' callback would wait for every handed-out connection.
      this.server.unref();
      return;
    }
    for (const s of this.handedOut) s.destroy();
    await stopped;
  }

  /** `await using server = await SocketServer.listen()`: closes it, dropping its connections. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close({ closeConnections: true });
  }

  /** Open connections: waiting to be accepted, and handed out. */
  get connections(): number {
    return this.queue.size + this.handedOut.size;
  }

  /** At `maxConnections`, or `maxPending` waiting. */
  private full(): boolean {
    return this.connections >= (this.options.maxConnections ?? 1024) || this.queue.size >= (this.options.maxPending ?? 128);
  }

  private onConnection(socket: Socket): void {
    socket.on('error', () => undefined); // reported through the producer/consumer made from it
    if (!this.options.tls && this.full()) return this.reset(socket);
    const c = new IncomingConnection(socket, {
      maxMessageBytes: this.options.maxMessageBytes,
      timeoutMs: this.options.timeoutMs,
      noDelay: this.options.noDelay,
      highWaterMark: this.options.highWaterMark,
      endMarker: this.options.endMarker,
      keepAliveMs: this.options.keepAliveMs,
      idleTimeoutMs: this.options.idleTimeoutMs,
    });
    const outcome = this.queue.offer(c);
    if (outcome === 'refused') this.reset(socket);
    else if (outcome === 'queued') socket.once('close', () => this.queue.remove(c));
  }

  private readonly handOut = (c: IncomingConnection): IncomingConnection => {
    this.handedOut.add(c.socket);
    c.socket.once('close', () => this.handedOut.delete(c.socket));
    return c;
  };
}

/** Remove a Unix socket file left by a dead server (nothing accepts on it); leave a live one alone. */
async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const live = await new Promise<boolean>((resolve) => {
    const probe = netConnect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (!live) {
    try {
      unlinkSync(path);
    } catch {
      // listen() will report the address as in use
    }
  }
}
