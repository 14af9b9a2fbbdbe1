// What both clients share: options, the channel, the per-call metadata.
import { Client, type ChannelCredentials, type ChannelOptions, Metadata, connectivityState, credentials as grpcCredentials } from '@grpc/grpc-js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_MAX_MESSAGE_BYTES, HarmonicsError } from '@harmonics/core';
import { TENSOR_DATA_OVERHEAD } from './proto.js';

/** Metadata every call of the TensorService carries (the C++ library's handshake). */
export const MAGIC_KEY = 'magic';
export const MAGIC_VALUE = 'HGRP';

export const PUSH_PATH = '/harmonics.TensorService/PushTensor';
export const POP_PATH = '/harmonics.TensorService/PopTensor';

/** Least time between two calls opened by one client (no tight loop against a server that is shutting down). */
export const REOPEN_MIN_INTERVAL_MS = 200;

/** Default HTTP/2 flow-control window (stream and connection): 16 MiB instead of 64 KiB. */
export const DEFAULT_FLOW_CONTROL_WINDOW = 16 * 1024 * 1024;

/** Extra metadata for each call, as pairs or from a hook run before every call (for auth tokens that expire). */
export type MetadataOption =
  Record<string, string> | ((method: 'PushTensor' | 'PopTensor') => Record<string, string> | Promise<Record<string, string>>);

/** TLS for clients, as Node's `tls` names it (PEM strings or Buffers). */
export interface GrpcClientTls {
  /** Trusted CA certificates; default: the system's roots. */
  ca?: string | Buffer;
  /** Client certificate and key for mutual TLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name to check the server's certificate against, when it differs from `host`. */
  servername?: string;
}

/** Options of {@link GrpcProducer} and {@link GrpcConsumer}. */
export interface GrpcClientOptions {
  /** Largest record (DESIGN §4 bytes) sent or received. Default 256 MiB, not gRPC's 4 MiB. */
  maxMessageSize?: number;
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
}

export interface ClientSettings {
  client: Client;
  target: string;
  maxMessageSize: number;
  timeoutMs: number | undefined;
  connectTimeoutMs: number;
  metadata: MetadataOption | undefined;
}

/** `host:port` with IPv6 hosts in brackets. */
export function formatTarget(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function checkPositive(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
    throw new HarmonicsError('ERR_PROTOCOL', `${name} must be a positive number, got ${value}`);
  }
}

export function makeClient(host: string, port: number, options: GrpcClientOptions = {}): ClientSettings {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new HarmonicsError('ERR_CONNECT', `port must be an integer from 1 to 65535, got ${port}`);
  }
  checkPositive('maxMessageSize', options.maxMessageSize);
  checkPositive('timeoutMs', options.timeoutMs);
  checkPositive('connectTimeoutMs', options.connectTimeoutMs);
  const maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_BYTES;
  const target = formatTarget(host, port);
  const window = options.flowControlWindow ?? DEFAULT_FLOW_CONTROL_WINDOW;
  const channelOptions: ChannelOptions = {
    'grpc.max_receive_message_length': maxMessageSize + TENSOR_DATA_OVERHEAD,
    'grpc.max_send_message_length': maxMessageSize + TENSOR_DATA_OVERHEAD,
    'grpc-node.flow_control_window': window,
    // One HTTP/2 connection per client. grpc-js would otherwise share one
    // between a GrpcConsumer and a GrpcProducer of the same server, and large
    // messages flowing both ways over one Node http2 connection with large
    // windows can stall (each side blocked writing, neither reading).
    'grpc.use_local_subchannel_pool': 1,
    ...options.channelOptions,
  };
  let creds = options.credentials;
  if (creds === undefined && options.tls !== undefined) {
    const { ca, cert, key, servername } = options.tls;
    creds = grpcCredentials.createSsl(toBuffer(ca), toBuffer(key), toBuffer(cert));
    if (servername !== undefined) {
      channelOptions['grpc.ssl_target_name_override'] = servername;
      channelOptions['grpc.default_authority'] = servername;
    }
  }
  const client = new Client(target, creds ?? grpcCredentials.createInsecure(), channelOptions);
  return {
    client,
    target,
    maxMessageSize,
    timeoutMs: options.timeoutMs,
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    metadata: options.metadata,
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
  const timer = setTimeout(() => {
    if (s.client.getChannel().getConnectivityState(false) === connectivityState.READY) return;
    fail(
      new HarmonicsError(
        'ERR_CONNECT',
        `no gRPC server answered at ${s.target} within ${s.connectTimeoutMs} ms (connectTimeoutMs): the port takes connections but nothing completed the HTTP/2 handshake`,
      ),
    );
  }, s.connectTimeoutMs);
  timer.unref?.(); // a watchdog: it never keeps a process alive by itself
  return () => clearTimeout(timer);
}

function toBuffer(v: string | Buffer | undefined): Buffer | null {
  if (v === undefined) return null;
  return typeof v === 'string' ? Buffer.from(v) : v;
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
