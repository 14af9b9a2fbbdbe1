import { type IncomingMessage, type Server as HttpServer, createServer as createHttpServer } from 'node:http';
import { type Server as HttpsServer, createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { type AbortOptions, DEFAULT_MAX_MESSAGE_BYTES, HarmonicsError, type ListeningServer, type ServerCloseOptions } from '@harmonics/core';
import { AcceptQueue, checkPositive } from '@harmonics/internal';
import { fastPathsOn } from '@harmonics/internal/node';
import { GATE } from './gate.js';
import WebSocket, { WebSocketServer as WsServer } from 'ws';
import {
  type SocketAdapter,
  WebSocketChannelConsumer,
  WebSocketChannelProducer,
  type WebSocketConsumerOptions,
  type WebSocketProducerOptions,
} from './channel.js';
import { keepAliveOf, nodeSocketAdapter } from './node-adapter.js';

/** Options of {@link WebSocketServer.listen}. */
export interface WebSocketServerOptions {
  /** Port to listen on; default 0 (a free one, see `.port`). Ignored with `server`. */
  port?: number;
  /** Host to bind; default `127.0.0.1`. Ignored with `server`. */
  host?: string;
  /** Accept upgrades on this path only (others get HTTP 400). Default: any path. */
  path?: string;
  /** Attach to an existing `http`/`https` server (which you listen and close yourself). */
  server?: HttpServer | HttpsServer;
  /** Serve `wss://` with these options (Node's `tls.createServer`: `key`, `cert`, `ca`, `requestCert`, …), passed through. Ignored with `server`. */
  tls?: TlsOptions;
  /**
   * Which browser pages may connect, by their `Origin` header (browsers do not
   * apply CORS to WebSockets, so without this any page the user visits could
   * reach a server on 127.0.0.1). Default: clients that send no `Origin`
   * (non-browser: Node, Python, the C++ library) and pages whose origin has
   * the same host name as the `Host` the client asked for (any port). A list
   * of exact origins (`'https://app.example.com'`, or `'*'` for any) or a
   * function opens it further; others get HTTP 403.
   */
  origins?: readonly string[] | ((origin: string, req: IncomingMessage) => boolean);
  /**
   * Allow the fast paths on `ws` internals (see the clients' `fastPaths`).
   * Default true, or false when the environment says `HARMONICS_FAST_PATHS=0`.
   * Either way they run only on the ws versions they were tested with
   * (`HARMONICS_FAST_PATHS=force` overrides that; `NODE_DEBUG=harmonics` says when).
   */
  fastPaths?: boolean;
  /** Decide on each upgrade (tokens, more checks) after the `origins` check; false answers HTTP 403. */
  verifyClient?: (info: { origin: string | undefined; secure: boolean; req: IncomingMessage }) => boolean | Promise<boolean>;
  /** Largest message accepted (a larger one closes the connection with 1009). Default 256 MiB. */
  maxMessageBytes?: number;
  /**
   * Connections waiting to be accepted before new ones are refused. Default
   * 128. A waiting connection reads nothing (its sender is held back by
   * TCP), so it costs kernel buffers, not memory of ours.
   */
  maxPending?: number;
  /** Open WebSocket connections (waiting and handed out) beyond which upgrades are refused with HTTP 503. Default 1024. */
  maxConnections?: number;
  /**
   * A connection must complete its HTTP upgrade request within this many ms,
   * else it is closed, so connections that say nothing do not hold
   * descriptors. Default 10 000. Ignored with `server` (set `headersTimeout`
   * on yours).
   */
  handshakeTimeoutMs?: number;
  /** Ping a connection after this many ms without hearing from it; 0: off. Default 20 000. */
  keepAliveMs?: number;
  /** Drop a connection that was silent (and took none of our bytes) this long: `ERR_CONNECTION_LOST`. Default 60 000. */
  idleTimeoutMs?: number;
}

/** The `origins` check of an upgrade request (see {@link WebSocketServerOptions.origins}). */
function originCheck(origins: WebSocketServerOptions['origins']): (req: IncomingMessage) => boolean {
  return (req) => {
    const origin = req.headers.origin;
    if (origin === undefined) return true; // not a browser
    if (typeof origins === 'function') return origins(origin, req) === true;
    if (origins !== undefined) return origins.includes('*') || origins.includes(origin);
    return sameHostName(origin, req.headers.host);
  };
}

function sameHostName(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  let originHost: string;
  try {
    originHost = new URL(origin).hostname;
  } catch {
    return false; // "null" (sandboxed pages, file://) and garbage
  }
  let requested: string;
  try {
    requested = new URL(`http://${host}`).hostname;
  } catch {
    return false;
  }
  return originHost.toLowerCase() === requested.toLowerCase();
}

/** An accepted WebSocket: make it a Producer (read what the peer sends) or a Consumer (send to it). */
export class IncomingWebSocket {
  private used = false;
  constructor(
    readonly socket: WebSocket,
    readonly request: IncomingMessage,
    private readonly adapter: SocketAdapter,
    private readonly maxMessageBytes: number,
  ) {}

  /** @internal Stop reading until handed out. */
  hold(): void {
    this.adapter.pause?.();
  }

  /** @internal Read again. */
  release(): void {
    this.adapter.resume?.();
  }

  get remoteAddress(): string {
    return this.request.socket.remoteAddress ?? 'unknown';
  }

  private take(): SocketAdapter {
    if (this.used) throw new HarmonicsError('ERR_PROTOCOL', 'this connection was already made into a producer or consumer');
    this.used = true;
    return this.adapter;
  }

  producer(options: WebSocketProducerOptions = {}): WebSocketChannelProducer {
    return new WebSocketChannelProducer(this.take(), { maxMessageBytes: this.maxMessageBytes, ...options });
  }

  consumer(options: WebSocketConsumerOptions = {}): WebSocketChannelConsumer {
    return new WebSocketChannelConsumer(this.take(), { maxMessageBytes: this.maxMessageBytes, ...options });
  }
}

/** Options of {@link WebSocketServer.close}. */
export interface WebSocketServerCloseOptions extends ServerCloseOptions {
  /**
   * Let connections already handed out run this long to finish, then drop
   * them. Without it (and without `closeConnections`) they stay open.
   */
  timeoutMs?: number;
  /** Drop connections already handed out at once. */
  closeConnections?: boolean;
}

/**
 * A WebSocket server (Node) that hands out connections as Producers or
 * Consumers: `acceptProducer()`, `acceptConsumer()`, or async iteration.
 */
export class WebSocketServer implements AsyncIterable<IncomingWebSocket>, ListeningServer {
  private readonly queue: AcceptQueue<IncomingWebSocket>;
  private readonly handedOut = new Set<WebSocket>();
  private closed = false;
  /** The fast-path switch, read once (as the grpc and flight servers read it). */
  private readonly fast: boolean;

  private constructor(
    private readonly wss: WsServer,
    private readonly http: HttpServer | HttpsServer,
    private readonly ownsHttp: boolean,
    private readonly options: WebSocketServerOptions,
  ) {
    this.queue = new AcceptQueue('the WebSocket server', options.maxPending ?? 128);
    this.fast = fastPathsOn(options.fastPaths, GATE);
    wss.on('connection', (ws: WebSocket, req: IncomingMessage) => this.onConnection(ws, req));
  }

  /** Start listening (or attach to `options.server`); resolves once ready. */
  static async listen(options: WebSocketServerOptions = {}): Promise<WebSocketServer> {
    checkPositive('maxConnections', options.maxConnections);
    checkPositive('handshakeTimeoutMs', options.handshakeTimeoutMs);
    checkPositive('maxPending', options.maxPending);
    const maxPayload = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    let http = options.server;
    const ownsHttp = http === undefined;
    if (http === undefined) {
      const reject426 = (_req: IncomingMessage, res: import('node:http').ServerResponse): void => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('this server speaks WebSocket only\n');
      };
      const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
      const limits = { headersTimeout: handshakeTimeoutMs, requestTimeout: handshakeTimeoutMs };
      http = options.tls ? createHttpsServer({ ...limits, ...options.tls }, reject426) : createHttpServer(limits, reject426);
      // A socket quiet this long before its upgrade is destroyed; ws clears the timeout once it takes the socket.
      http.setTimeout(handshakeTimeoutMs);
      const host = options.host ?? '127.0.0.1';
      const h = http;
      await new Promise<void>((resolve, reject) => {
        h.once('error', (err: NodeJS.ErrnoException) =>
          reject(new HarmonicsError('ERR_CONNECT', `cannot listen on ${host}:${options.port ?? 0}: ${err.code ?? err.message}`, { cause: err })),
        );
        h.listen(options.port ?? 0, host, () => resolve());
      });
    }
    const verify = options.verifyClient;
    const originAllowed = originCheck(options.origins);
    const maxConnections = options.maxConnections ?? 1024;
    const made: { server?: WebSocketServer } = {};
    const wss = new WsServer({
      server: http,
      path: options.path,
      maxPayload,
      perMessageDeflate: false,
      verifyClient: (info, cb) => {
        if (!originAllowed(info.req)) return cb(false, 403, "Forbidden: this Origin may not connect (see the server's origins option)");
        if ((made.server?.connections ?? 0) >= maxConnections) return cb(false, 503, 'Service Unavailable: too many connections (maxConnections)');
        if (verify === undefined) return cb(true);
        Promise.resolve()
          .then(() => verify(info))
          .then(
            (ok) => cb(ok === true, 403, 'Forbidden'),
            () => cb(false, 403, 'Forbidden'),
          );
      },
    });
    made.server = new WebSocketServer(wss, http, ownsHttp, options);
    return made.server;
  }

  /** Open WebSocket connections: waiting to be accepted, and handed out. */
  get connections(): number {
    return this.queue.size + this.handedOut.size;
  }

  /** The port listened on. */
  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const where = `ws client ${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const c = new IncomingWebSocket(
      ws,
      req,
      nodeSocketAdapter(ws, where, keepAliveOf(this.options), this.fast),
      this.options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    );
    const outcome = this.queue.offer(c);
    if (outcome === 'refused') ws.close(1013, 'try again later');
    else if (outcome === 'queued') {
      c.hold(); // read nothing until someone accepts it: its sender is held back by TCP, not buffered here
      ws.once('close', () => this.queue.remove(c));
    }
  }

  private readonly handOut = (c: IncomingWebSocket): IncomingWebSocket => {
    c.release();
    this.handedOut.add(c.socket);
    c.socket.once('close', () => this.handedOut.delete(c.socket));
    return c;
  };

  /**
   * The next connection (waits for one).
   * @throws HarmonicsError `ERR_CLOSED` once the server is closed; `ERR_ABORTED`.
   */
  accept(options?: AbortOptions): Promise<IncomingWebSocket> {
    return this.queue.accept(options?.signal).then(this.handOut);
  }

  /** The next connection as a Producer: read what that peer sends. */
  async acceptProducer(options?: AbortOptions & WebSocketProducerOptions): Promise<WebSocketChannelProducer> {
    return (await this.accept(options)).producer(options);
  }

  /** The next connection as a Consumer: send to that peer. */
  async acceptConsumer(options?: AbortOptions & WebSocketConsumerOptions): Promise<WebSocketChannelConsumer> {
    return (await this.accept(options)).consumer(options);
  }

  /** Incoming connections until the server closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<IncomingWebSocket> {
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
   * Stop accepting. Connections not yet accepted are closed (1001); waiting
   * `accept()` calls reject `ERR_CLOSED`. Handed-out connections stay open,
   * unless `timeoutMs` is given (they may run that long, then are dropped) or
   * `closeConnections` is true (dropped at once). The http server is closed
   * only if this server created it. Idempotent.
   */
  async close(options: WebSocketServerCloseOptions = {}): Promise<void> {
    checkPositive('timeoutMs', options.timeoutMs, true);
    const first = !this.closed;
    if (first) {
      // Stop accepting first: an upgrade during the grace period is refused (1013), not served.
      this.closed = true;
      for (const c of this.queue.close()) c.socket.close(1001, 'server closing');
    }
    let drop = options.closeConnections === true;
    if (!drop && options.timeoutMs !== undefined && this.handedOut.size > 0) {
      const ms = options.timeoutMs;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all([...this.handedOut].map((ws) => new Promise((resolve) => ws.once('close', resolve)))),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
      ]);
      clearTimeout(timer);
      drop = true;
    }
    if (drop) for (const ws of this.handedOut) ws.terminate();
    if (!first) return;
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    if (this.ownsHttp) {
      const stopped = new Promise<void>((resolve) => this.http.close(() => resolve()));
      if (drop) {
        this.http.closeAllConnections?.();
        await stopped;
      } else this.http.unref();
    }
  }

  /** `await using server = await WebSocketServer.listen()`: closes it, dropping its connections. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close({ closeConnections: true });
  }
}
