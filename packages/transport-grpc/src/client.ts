// What both clients share: options, the channel, the per-call metadata.
import type { PeerCertificate, SecureContextOptions } from 'node:tls';
import { Client, type ChannelCredentials, type ChannelOptions, Metadata, connectivityState, credentials as grpcCredentials } from '@grpc/grpc-js';
import { DEFAULT_CONNECT_TIMEOUT_MS, type HarmonicsError } from '@harmonics/core';
import { DEFAULT_KEEPALIVE_TIMEOUT_MS, checkPort, checkPositive, keepAliveOptions, maxMessageBytesOf, watchHandshake } from '@harmonics/internal';
import { fastPathsOn, plainMessages, tlsChannelCredentials } from '@harmonics/internal/node';
import { GATE } from './gate.js';
import { TENSOR_DATA_OVERHEAD } from './proto.js';

/** Metadata every call of the TensorService carries (the C++ library's handshake). */
export const MAGIC_KEY = 'magic';
export const MAGIC_VALUE = 'HGRP';

export const PUSH_PATH = '/harmonics.TensorService/PushTensor';
export const POP_PATH = '/harmonics.TensorService/PopTensor';

/** Least time between two calls opened by one client (no tight loop against a server that is shutting down). */
export const REOPEN_MIN_INTERVAL_MS = 200;

/**
 * Clients' default {@link GrpcClientOptions.keepAliveMs}: 5 minutes, the
 * shortest interval gRPC C-core servers (grpcio, the C++ library) accept
 * without data in between; more often, they answer with GOAWAY
 * `too_many_pings` and drop the connection.
 */
export const DEFAULT_CLIENT_KEEPALIVE_MS = 300_000;
/** Servers' default keepalive: a ping to each client after 20 s of quiet (clients do not police pings). */
export const DEFAULT_SERVER_KEEPALIVE_MS = 20_000;
/** How long a keepalive ping may go unanswered before the connection is dropped, by default: 20 s. */
export { DEFAULT_KEEPALIVE_TIMEOUT_MS };

/** Default HTTP/2 flow-control window (stream and connection): 16 MiB instead of 64 KiB. */
export const DEFAULT_FLOW_CONTROL_WINDOW = 16 * 1024 * 1024;

/** Extra metadata for each call, as pairs or from a hook run before every call (for auth tokens that expire). */
export type MetadataOption =
  Record<string, string> | ((method: 'PushTensor' | 'PopTensor') => Record<string, string> | Promise<Record<string, string>>);

/**
 * TLS for clients, as Node names it: every `tls.createSecureContext` option
 * (`ca`, `cert`, `key`, `pfx`, `passphrase`, `ciphers`, `minVersion`…), and
 * how the server is verified. ALPN is gRPC's business.
 */
export interface GrpcClientTls extends SecureContextOptions {
  /** The name to check the server's certificate against, when it differs from the host. */
  servername?: string;
  /** Refuse a server whose certificate does not verify. Default true. */
  rejectUnauthorized?: boolean;
  /** Further checks of the server's certificate, after the host name check. */
  checkServerIdentity?: (hostname: string, cert: PeerCertificate) => Error | undefined;
}

/** Options of {@link GrpcProducer} and {@link GrpcConsumer}. */
export interface GrpcClientOptions {
  /** Largest record (the whole DESIGN §4 record) sent or received: `ERR_TOO_LARGE` beyond. Default 256 MiB, not gRPC's 4 MiB. */
  maxMessageBytes?: number;
  /** @deprecated The old name of {@link maxMessageBytes}; removed in the next minor release. */
  maxMessageSize?: number;
  /**
   * Send an HTTP/2 ping when the connection has been quiet this long, and
   * drop it (`ERR_CONNECTION_LOST`) when the ping is not answered within
   * `keepAliveTimeoutMs`: a server that vanished without closing (cable
   * pulled, machine frozen, process stopped) is noticed within
   * `keepAliveMs + keepAliveTimeoutMs`. Default 300 000 (5 min: gRPC C-core
   * servers refuse pings more often); lower it against servers that allow
   * it, such as {@link GrpcServer}. 0 turns keepalive off.
   */
  keepAliveMs?: number;
  /** How long a keepalive ping may go unanswered. Default 20 000. */
  keepAliveTimeoutMs?: number;
  /**
   * Deadline of each call and longest wait of each `next()`/`push()`, in ms.
   * With it, a call that breaks (server restart, deadline) is replaced by a
   * new one automatically; a `next()` or `push()` that cannot complete in
   * time rejects `ERR_TIMEOUT`. Without it, calls have no deadline and a
   * broken call rejects `ERR_CONNECTION_LOST`.
   */
  timeoutMs?: number;
  /**
   * Without `timeoutMs`: give up with `ERR_CONNECT` when the channel is not
   * ready (TCP, TLS and the HTTP/2 handshake) within this many ms, so a server
   * that accepts the connection and never answers is not waited on forever.
   * Default 10 000. (With `timeoutMs`, each call's deadline covers it.)
   */
  connectTimeoutMs?: number;
  /** TLS; shorthand for `credentials`. */
  tls?: GrpcClientTls;
  /** gRPC channel credentials; default insecure (unless `tls` is given). */
  credentials?: ChannelCredentials;
  /** Extra metadata on every call (auth tokens). `magic: HGRP` is always added. */
  metadata?: MetadataOption;
  /** HTTP/2 flow-control window in bytes, per stream and per connection. Default 16 MiB. */
  flowControlWindow?: number;
  /** Further grpc-js channel options, passed through. */
  channelOptions?: ChannelOptions;
  /**
   * Allow the fast path on grpc-js internals: large tensors handed to grpc-js
   * as objects it copies into its frame, without an intermediate Buffer. It
   * runs only without compression and interceptors in `channelOptions`.
   * Default true, or false when the environment says `HARMONICS_FAST_PATHS=0`.
   * Either way they run only on the grpc-js versions they were tested with
   * (`HARMONICS_FAST_PATHS=force` overrides that; `NODE_DEBUG=harmonics` says when).
   */
  fastPaths?: boolean;
}

export interface ClientSettings {
  client: Client;
  target: string;
  maxMessageBytes: number;
  timeoutMs: number | undefined;
  connectTimeoutMs: number;
  metadata: MetadataOption | undefined;
  /** Large tensors go to grpc-js as LazyTensorData (fast paths on, plain messages). */
  lazyMessages: boolean;
}

/** `host:port` with IPv6 hosts in brackets. */
export function formatTarget(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function makeClient(host: string, port: number, options: GrpcClientOptions = {}): ClientSettings {
  checkPort(port);
  const maxMessageBytes = maxMessageBytesOf(options);
  checkPositive('timeoutMs', options.timeoutMs);
  checkPositive('connectTimeoutMs', options.connectTimeoutMs);
  const target = formatTarget(host, port);
  const window = options.flowControlWindow ?? DEFAULT_FLOW_CONTROL_WINDOW;
  const channelOptions: ChannelOptions = {
    'grpc.max_receive_message_length': maxMessageBytes + TENSOR_DATA_OVERHEAD,
    'grpc.max_send_message_length': maxMessageBytes + TENSOR_DATA_OVERHEAD,
    'grpc-node.flow_control_window': window,
    ...keepAliveOptions(options.keepAliveMs, options.keepAliveTimeoutMs, DEFAULT_CLIENT_KEEPALIVE_MS),
    // One HTTP/2 connection per client. grpc-js would otherwise share one
    // between a GrpcConsumer and a GrpcProducer of the same server, and large
    // messages flowing both ways over one Node http2 connection with large
    // windows can stall (each side blocked writing, neither reading).
    'grpc.use_local_subchannel_pool': 1,
    ...options.channelOptions,
  };
  let creds = options.credentials;
  if (creds === undefined && options.tls !== undefined) {
    const secure = tlsChannelCredentials(grpcCredentials, options.tls);
    creds = secure.credentials;
    Object.assign(channelOptions, secure.channelOptions);
  }
  const client = new Client(target, creds ?? grpcCredentials.createInsecure(), channelOptions);
  return {
    client,
    target,
    maxMessageBytes,
    timeoutMs: options.timeoutMs,
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    metadata: options.metadata,
    lazyMessages: fastPathsOn(options.fastPaths, GATE) && plainMessages(channelOptions),
  };
}

/**
 * Without `timeoutMs`: calls `fail` with `ERR_CONNECT` if the channel is not
 * READY `connectTimeoutMs` after this call (a black hole: the port accepts
 * connections but nothing speaks HTTP/2 there). Returns the cancel function;
 * its timer is ours, cleared by it, so none outlives the client.
 */
export function watchConnect(s: ClientSettings, fail: (err: HarmonicsError) => void): () => void {
  if (s.timeoutMs !== undefined) return () => undefined;
  const ready = (): boolean => s.client.getChannel().getConnectivityState(false) === connectivityState.READY;
  return watchHandshake(ready, s.connectTimeoutMs, 'gRPC', s.target, fail);
}

/** The metadata of one call: the caller's pairs (or its hook's) plus `magic: HGRP`. */
export async function callMetadata(option: MetadataOption | undefined, method: 'PushTensor' | 'PopTensor'): Promise<Metadata> {
  const md = new Metadata();
  const pairs = typeof option === 'function' ? await option(method) : option;
  if (pairs !== undefined) for (const key of Object.keys(pairs)) md.set(key, pairs[key]);
  md.set(MAGIC_KEY, MAGIC_VALUE);
  return md;
}

/** The deadline of a call opened now. */
export function deadlineFor(timeoutMs: number | undefined): { deadline?: number; waitForReady?: boolean } {
  return timeoutMs === undefined ? {} : { deadline: Date.now() + timeoutMs, waitForReady: true };
}
