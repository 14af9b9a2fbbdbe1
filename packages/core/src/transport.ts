import type { Consumer, Producer } from './contract.js';

/**
 * A parsed target string such as `tcp://127.0.0.1:9000?timeoutMs=500`
 * (`@harmonics/url` parses them). Transports read the fields their schemes use.
 */
export interface Target {
  /** The target as the caller wrote it. */
  readonly href: string;
  /** Lower-case scheme without the colon: `tcp`, `ws`, `file`, … */
  readonly scheme: string;
  /** Host for network schemes, IPv6 without brackets. */
  readonly host?: string;
  /** Port for network schemes (1–65535; 0 only when listening). */
  readonly port?: number;
  /** File or Unix-socket path; the URL path of `ws`/`wss` (starts with `/`); the stream of `flight`. */
  readonly path?: string;
  /** File descriptor of `socket:FD`. */
  readonly fd?: number;
  /** Query parameters, decoded. A parameter without `=` has the value `''`. */
  readonly params: Readonly<Record<string, string>>;
}

/** Options handed to a transport: the caller's options object (query parameters are applied by the transport). */
export type TransportOptions = Readonly<Record<string, unknown>>;

/**
 * What a transport package exports so that `makeProducer` / `makeConsumer`
 * can build its Producers and Consumers from a target string.
 */
export interface Transport {
  /** The npm package, e.g. `@harmonics/transport-net`. */
  readonly name: string;
  /** The schemes it serves, lower case, e.g. `['tcp', 'unix', 'socket']`. */
  readonly schemes: readonly string[];
  producer(target: Target, options: TransportOptions): Promise<Producer>;
  consumer(target: Target, options: TransportOptions): Promise<Consumer>;
}

/**
 * The default `connectTimeoutMs` of every network client: 10 s to connect,
 * handshakes included (TLS, HTTP/2, the WebSocket upgrade).
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
