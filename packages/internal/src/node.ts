// Node-only building blocks (@harmonics/internal/node). They live here, not in
// core's sources, because they import Node modules and core stays browser-safe.
import type { Http2Server, Http2Session } from 'node:http2';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { debuglog } from 'node:util';
import {
  type ConnectionOptions,
  type SecureContextOptions,
  type TLSSocket,
  type TlsOptions,
  createSecureContext,
  createServer as createTlsServer,
} from 'node:tls';
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
  /** A connection that has not begun HTTP/2 this long after it opened is closed (sent fewer than 24 bytes; with `tls`: not finished its TLS handshake); 0: never. */
  handshakeTimeoutMs?: number;
  /**
   * Terminate TLS here, with Node's `tls.createServer` options (all of them),
   * and hand grpc-js the decrypted connection; its injector must then be an
   * insecure one. ALPN defaults to `h2`.
   */
  tls?: TlsOptions;
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
  /** Over TLS: each connection's TLS socket, once its handshake is done. */
  private readonly secured = new Map<Socket, TLSSocket>();
  /** Over TLS: connections by their peer's address and port, to find the one a TLS socket wraps. */
  private readonly byPeer = new Map<string, Socket>();
  private tls = false;
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
    let hand: (socket: Socket) => void = (socket) => injector.injectConnection(socket);
    if (options.tls !== undefined) {
      const tls = createTlsServer({ ALPNProtocols: ['h2'], ...options.tls });
      tls.on('tlsClientError', () => {}); // a failed handshake: the connection is closed, the client told by its TLS stack
      tls.on('secureConnection', (secure: TLSSocket) => {
        secure.on('error', () => {});
        const raw = listener.byPeer.get(peerOf(secure));
        if (raw === undefined) return void secure.destroy(); // its connection closed meanwhile
        listener.secured.set(raw, secure);
        secure.once('close', () => raw.destroy());
        injector.injectConnection(secure);
      });
      listener.tls = true;
      hand = (socket) => tls.emit('connection', socket);
    }
    net.on('connection', (socket: Socket) => {
      if (listener.sockets.size >= maxConnections) {
        listener.refused++;
        socket.resetAndDestroy();
        return;
      }
      listener.track(socket, handshakeMs);
      hand(socket);
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
    const peer = peerOf(socket);
    if (this.tls) this.byPeer.set(peer, socket);
    socket.on('error', () => {}); // the HTTP/2 session reports its own errors
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (handshakeMs > 0) {
      timer = setTimeout(() => {
        if (this.begun(socket)) return;
        this.silentClosed++;
        socket.destroy();
      }, handshakeMs);
      timer.unref();
    }
    socket.once('close', () => {
      clearTimeout(timer);
      this.sockets.delete(socket);
      if (this.byPeer.get(peer) === socket) this.byPeer.delete(peer);
      this.secured.get(socket)?.destroy();
      this.secured.delete(socket);
    });
  }

  /** Whether a connection has begun: over TLS its handshake is done, else it sent the HTTP/2 preface's length. */
  private begun(socket: Socket): boolean {
    return this.tls ? this.secured.has(socket) : socket.bytesRead >= PREFACE_BYTES;
  }

  /** Stop accepting, and close the connections that never started HTTP/2 (grpc-js's shutdown would wait on them). */
  stopAccepting(): void {
    this.server.close();
    for (const s of this.sockets) if (!this.begun(s)) s.destroy();
  }

  /** Close every connection still open (after grpc-js's shutdown). */
  destroyAll(): void {
    this.server.close();
    for (const s of this.secured.values()) s.destroy();
    for (const s of this.sockets) s.destroy();
  }
}

function peerOf(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}

/** What grpc-js's public `credentials` namespace offers for TLS from a Node secure context (grpc-js ≥ 1.10), structurally. */
export interface SecureContextCredentials<C> {
  createFromSecureContext(
    context: ReturnType<typeof createSecureContext>,
    verify?: { checkServerIdentity?: ConnectionOptions['checkServerIdentity']; rejectUnauthorized?: boolean },
  ): C;
}

/** Client TLS, as Node names it: every `tls.createSecureContext` option, and how the server is verified. */
export interface ClientTlsOptions extends SecureContextOptions {
  /** The name to check the server's certificate against, when it differs from the host connected to. */
  servername?: string;
  /** Refuse a server whose certificate does not verify. Default true. */
  rejectUnauthorized?: boolean;
  /** Further checks of the server's certificate, after the host name check. */
  checkServerIdentity?: ConnectionOptions['checkServerIdentity'];
}

/** grpc-js channel credentials (and channel options) for client TLS given as Node's options. */
export function tlsChannelCredentials<C>(
  credentials: SecureContextCredentials<C>,
  tls: ClientTlsOptions,
): { credentials: C; channelOptions: Record<string, string> } {
  const { servername, rejectUnauthorized, checkServerIdentity, ...context } = tls;
  const creds = credentials.createFromSecureContext(createSecureContext(context), { rejectUnauthorized, checkServerIdentity });
  return {
    credentials: creds,
    channelOptions: servername === undefined ? {} : { 'grpc.ssl_target_name_override': servername, 'grpc.default_authority': servername },
  };
}

// ---- fast paths (DESIGN §11) -----------------------------------------------------

const debug = debuglog('harmonics');
const said = new Set<string>();

/** Say `message` once per process on the `harmonics` debug channel (`NODE_DEBUG=harmonics`). */
export function debugOnce(key: string, message: string): void {
  if (said.has(key)) return;
  said.add(key);
  debug(message);
}

/**
 * The versions of `ws` and `@grpc/grpc-js` whose internals the fast paths
 * were tested against (from, inclusive; below, exclusive). A version outside
 * its range runs the public-API paths and says so once on the debug channel.
 * Widen a range only after `npm run test:latest` passes with the new version
 * (it runs the suites with `HARMONICS_FAST_PATHS=force`).
 */
export const FAST_PATH_TESTED: Readonly<Record<'ws' | '@grpc/grpc-js', readonly [from: string, below: string]>> = {
  ws: ['8.23.0', '8.24.0'],
  '@grpc/grpc-js': ['1.14.7', '1.15.0'],
};

/** `a` compared with `b`, both `x.y.z` (a pre-release or build suffix makes `a` compare as unknown: NaN). */
function compareVersions(a: string, b: string): number {
  const pa = /^(\d+)\.(\d+)\.(\d+)$/.exec(a);
  const pb = /^(\d+)\.(\d+)\.(\d+)$/.exec(b);
  if (pa === null || pb === null) return NaN;
  for (let i = 1; i <= 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0) return d;
  }
  return 0;
}

/** Whether `version` lies in `[from, below)`; pre-releases and unparsable versions do not. */
export function versionInRange(version: string, [from, below]: readonly [string, string]): boolean {
  return compareVersions(version, from) >= 0 && compareVersions(version, below) < 0;
}

/** Whether the installed copy of one dependency may carry fast paths: read once, when the package using it loads. */
export interface VersionGate {
  readonly name: keyof typeof FAST_PATH_TESTED;
  /** The installed version, or undefined when its package.json could not be read. */
  readonly version: string | undefined;
  /** Whether `version` lies in the tested range ({@link FAST_PATH_TESTED}). */
  readonly tested: boolean;
}

/**
 * Read the installed version of `name` through `require` (made with
 * `createRequire(__filename)` in the package that imports `name`, so that it
 * finds the same copy that package loads).
 */
export function versionGate(name: keyof typeof FAST_PATH_TESTED, require: (id: string) => unknown): VersionGate {
  let version: string | undefined;
  try {
    const v = (require(`${name}/package.json`) as { version?: unknown }).version;
    if (typeof v === 'string') version = v;
  } catch {
    // no readable package.json: untested
  }
  return { name, version, tested: version !== undefined && versionInRange(version, FAST_PATH_TESTED[name]) };
}

/** `HARMONICS_FAST_PATHS`, read on each call: 'off' (0, false, off), 'force' or 'on' (unset or anything else). */
function fastPathsEnv(): 'off' | 'force' | 'on' {
  const env = process.env.HARMONICS_FAST_PATHS?.trim().toLowerCase();
  if (env === '0' || env === 'false' || env === 'off') return 'off';
  return env === 'force' ? 'force' : 'on';
}

/**
 * Whether the fast paths built on private internals of `ws` and `@grpc/grpc-js`
 * may run: the `fastPaths` option when it is given, else unless the
 * environment says `HARMONICS_FAST_PATHS=0` (or `false`, `off`), and in
 * either case only when the installed dependency (`gate`) is a version they
 * were tested with, unless the environment says `HARMONICS_FAST_PATHS=force`.
 * Off, every transport uses its dependencies' public APIs only.
 */
export function fastPathsOn(option: boolean | undefined, gate: VersionGate): boolean {
  const env = fastPathsEnv();
  if (!(option ?? env !== 'off')) return false;
  if (gate.tested || env === 'force') return true;
  const [from, below] = FAST_PATH_TESTED[gate.name];
  debugOnce(
    `untested:${gate.name}`,
    `${gate.name} ${gate.version ?? '(version unknown)'} is outside the range the fast paths were tested with (>=${from} <${below}): ` +
      'using its public API only (HARMONICS_FAST_PATHS=force to try them anyway)',
  );
  return false;
}

// grpc-js has no server option for HTTP/2 flow-control windows (clients have
// 'grpc-node.flow_control_window'). Without one, each stream is throttled by
// the 64 KiB default. With fast paths on, Node's http2 settings are set
// through the server's http2 options and sessions (private fields of
// grpc-js); where they are missing the server works with default windows and
// says so once on the debug channel.
interface GrpcServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  http2Servers?: Map<Http2Server, unknown>;
}

/** Before the server makes its HTTP/2 servers: advertise `window` in their settings. */
export function setServerWindow(server: object, window: number, fast: boolean): void {
  if (!fast) return;
  const internals = server as GrpcServerInternals;
  if (internals.commonServerOptions === undefined) {
    debugOnce('window', 'this grpc-js has no commonServerOptions: servers keep HTTP/2 default 64 KiB windows');
    return;
  }
  internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: window };
}

/** After: open each new session's connection window to `window` too. */
export function applyWindowToSessions(server: object, window: number, fast: boolean): void {
  if (!fast) return;
  const servers = (server as GrpcServerInternals).http2Servers;
  if (servers === undefined) {
    debugOnce('sessions', 'this grpc-js has no http2Servers: server connection windows stay at the HTTP/2 default');
    return;
  }
  for (const h2 of servers.keys()) {
    h2.on('session', (session: Http2Session) => {
      try {
        session.setLocalWindowSize(window);
      } catch {
        // a session that closed already
      }
    });
  }
}

/**
 * Whether grpc-js channel or server options leave messages alone, so that a
 * message object that only pretends to be a Buffer (length, copy) reaches
 * the frame as it is: no compression, no interceptors.
 */
export function plainMessages(options: Record<string, unknown> | undefined): boolean {
  if (options === undefined) return true;
  const compression = options['grpc.default_compression_algorithm'];
  if (compression !== undefined && compression !== 0) return false;
  const interceptors = options.interceptors as unknown[] | undefined;
  const providers = options.interceptor_providers as unknown[] | undefined;
  return (interceptors === undefined || interceptors.length === 0) && (providers === undefined || providers.length === 0);
}

/** What `listenGrpc` needs of a grpc-js `Server`, structurally. */
export interface InjectableServer<C> {
  createConnectionInjector(credentials: C): ConnectionInjectorLike;
}

/**
 * Listen for a grpc-js server through an {@link Http2Listener}: with
 * grpc-js `credentials`, grpc-js does TLS; with `tls` instead, the listener
 * terminates TLS with Node's options and grpc-js gets an insecure injector.
 */
export function listenGrpc<C>(
  server: InjectableServer<C>,
  insecure: () => C,
  options: { host: string; port?: number; maxConnections?: number; handshakeTimeoutMs?: number; tls?: TlsOptions; credentials?: C },
): Promise<Http2Listener> {
  const ownTls = options.credentials === undefined ? options.tls : undefined;
  const injector = server.createConnectionInjector(options.credentials ?? insecure());
  return Http2Listener.listen(injector, {
    host: options.host,
    port: options.port ?? 0,
    maxConnections: options.maxConnections,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    tls: ownTls,
  });
}
