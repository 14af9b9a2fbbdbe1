// What FlightProducer and FlightConsumer share: options, the channel, auth.
import type { PeerCertificate, SecureContextOptions } from 'node:tls';
import { Client, type ChannelCredentials, type ChannelOptions, Metadata, connectivityState, credentials as grpcCredentials } from '@grpc/grpc-js';
import { DEFAULT_CONNECT_TIMEOUT_MS, HarmonicsError } from '@harmonics/core';
import {
  DEFAULT_KEEPALIVE_TIMEOUT_MS,
  checkPort,
  checkPositive,
  invalidArgument,
  keepAliveOptions,
  maxMessageBytesOf,
  watchHandshake,
} from '@harmonics/internal';
import { fastPathsOn, plainMessages, tlsChannelCredentials } from '@harmonics/internal/node';
import { GATE } from './gate.js';
import { callError } from './errors.js';
import { decodeBytesField, decodeUtf8 } from './proto.js';
import { methodPath } from './service.js';

/** The stream a client uses unless told otherwise. */
export const DEFAULT_STREAM = 'tensors';
/** DoPut metadata of a writer that may continue the stream with another DoPut (a new schema); it ends by {@link END_ACTION}. */
export const WRITER_KEY = 'harmonics-writer';
/** The DoAction with which a writer says it is done (body: JSON {"stream", "writer"}). */
export const END_ACTION = 'harmonics.end-writer';
/**
 * Clients' default {@link FlightClientOptions.keepAliveMs}: 5 minutes, the
 * shortest interval gRPC C-core servers (pyarrow's, Arrow C++'s) accept
 * without data in between; more often, they answer with GOAWAY
 * `too_many_pings` and drop the connection.
 */
export const DEFAULT_CLIENT_KEEPALIVE_MS = 300_000;
/** The server's default keepalive: a ping to each client after 20 s of quiet (clients do not police pings). */
export const DEFAULT_SERVER_KEEPALIVE_MS = 20_000;
/** How long a keepalive ping may go unanswered before the connection is dropped, by default: 20 s. */
export { DEFAULT_KEEPALIVE_TIMEOUT_MS };

/** Default HTTP/2 flow-control window (stream and connection): 16 MiB instead of 64 KiB. */
export const DEFAULT_FLOW_CONTROL_WINDOW = 16 * 1024 * 1024;

/**
 * TLS for clients, as Node names it: every `tls.createSecureContext` option
 * (`ca`, `cert`, `key`, `pfx`, `passphrase`, `ciphers`, `minVersion`…), and
 * how the server is verified. ALPN is gRPC's business.
 */
export interface FlightClientTls extends SecureContextOptions {
  /** The name to check the server's certificate against, when it differs from the host. */
  servername?: string;
  /** Refuse a server whose certificate does not verify. Default true. */
  rejectUnauthorized?: boolean;
  /** Further checks of the server's certificate, after the host name check. */
  checkServerIdentity?: (hostname: string, cert: PeerCertificate) => Error | undefined;
}

/** Options of {@link FlightProducer} and {@link FlightConsumer} over the network. */
export interface FlightClientOptions {
  /** The stream (descriptor path, and default ticket). Default `'tensors'`. */
  stream?: string;
  /**
   * Largest tensor sent or received, counted as its DESIGN §4 record (header
   * and data): a bigger one is `ERR_TOO_LARGE` before anything is sent, and
   * a stream whose schema announces bigger ones is refused at the schema.
   * Default 256 MiB (gRPC's default is 4 MiB).
   */
  maxMessageBytes?: number;
  /** @deprecated The old name of {@link maxMessageBytes}; removed in the next minor release. */
  maxMessageSize?: number;
  /**
   * Send an HTTP/2 ping when the connection has been quiet this long, and
   * drop it (`ERR_CONNECTION_LOST`) when the ping is not answered within
   * `keepAliveTimeoutMs`: a server that vanished without closing is noticed
   * within `keepAliveMs + keepAliveTimeoutMs`. Default 300 000 (5 min:
   * gRPC C-core servers such as pyarrow's refuse pings more often); lower it
   * against a {@link TensorFlightServer}. 0 turns keepalive off.
   */
  keepAliveMs?: number;
  /** How long a keepalive ping may go unanswered. Default 20 000. */
  keepAliveTimeoutMs?: number;
  /** TLS; shorthand for `credentials`. */
  tls?: FlightClientTls;
  /** gRPC channel credentials; default insecure (unless `tls` is given). */
  credentials?: ChannelCredentials;
  /** A bearer token sent as `authorization: Bearer …` on every call. */
  token?: string;
  /**
   * Username and password for a Flight handshake (`authorization: Basic …`,
   * as pyarrow's `authenticate_basic_token`); the bearer token the server
   * answers with is then sent on every call.
   */
  username?: string;
  password?: string;
  /** Extra metadata on every call. */
  metadata?: Record<string, string>;
  /** HTTP/2 flow-control window in bytes, per stream and per connection. Default 16 MiB. */
  flowControlWindow?: number;
  /**
   * Producers and consumers give up with `ERR_CONNECT` when the channel is not
   * ready (TCP, TLS and the HTTP/2 handshake) this long after their first
   * call, so a server that accepts the connection and never answers is not
   * waited on forever. Default 10 000.
   */
  connectTimeoutMs?: number;
  /** Further grpc-js channel options, passed through. */
  channelOptions?: ChannelOptions;
  /**
   * Allow the fast paths on grpc-js internals: a DoPut writing straight to the
   * HTTP/2 stream (`directWrites`), large bodies handed to grpc-js as objects
   * it copies into its frame. They run only without compression and
   * interceptors in `channelOptions`. Default true, or false when the
   * environment says `HARMONICS_FAST_PATHS=0`.
   * Either way they run only on the grpc-js versions they were tested with
   * (`HARMONICS_FAST_PATHS=force` overrides that; `NODE_DEBUG=harmonics` says when).
   */
  fastPaths?: boolean;
}

export interface ClientSettings {
  client: Client;
  target: string;
  stream: string;
  maxMessageBytes: number;
  connectTimeoutMs: number;
  /** Fast paths on and plain messages: direct writes and LazyFlightData may run. */
  fast: boolean;
  /** The metadata of a call: the caller's pairs and the bearer token (after the handshake, if any). */
  metadata(): Promise<Metadata>;
}

/**
 * Calls `fail` with `ERR_CONNECT` if the channel is not READY
 * `connectTimeoutMs` from now (a black hole: the port accepts connections but
 * nothing speaks HTTP/2 there). Returns the cancel function; the timer never
 * keeps a process alive and is cleared by it.
 */
export function watchConnect(s: ClientSettings, fail: (err: HarmonicsError) => void): () => void {
  const ready = (): boolean => s.client.getChannel().getConnectivityState(false) === connectivityState.READY;
  return watchHandshake(ready, s.connectTimeoutMs, 'Flight', s.target, fail);
}

/** `host:port` with IPv6 hosts in brackets. */
export function formatTarget(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function checkStream(stream: string | undefined): string {
  const s = stream ?? DEFAULT_STREAM;
  if (typeof s !== 'string' || s === '') {
    throw invalidArgument(`stream must be a non-empty string, got ${JSON.stringify(stream)}`);
  }
  return s;
}

export function makeClient(host: string, port: number, options: FlightClientOptions = {}): ClientSettings {
  checkPort(port);
  const maxMessageBytes = maxMessageBytesOf(options);
  checkPositive('connectTimeoutMs', options.connectTimeoutMs);
  const stream = checkStream(options.stream);
  const target = formatTarget(host, port);
  const fast = fastPathsOn(options.fastPaths, GATE) && plainMessages(options.channelOptions);
  const channelOptions: ChannelOptions = {
    // Flight messages add a few hundred bytes of framing to the tensors.
    'grpc.max_receive_message_length': maxMessageBytes + 64 * 1024,
    'grpc.max_send_message_length': maxMessageBytes + 64 * 1024,
    'grpc-node.flow_control_window': options.flowControlWindow ?? DEFAULT_FLOW_CONTROL_WINDOW,
    ...keepAliveOptions(options.keepAliveMs, options.keepAliveTimeoutMs, DEFAULT_CLIENT_KEEPALIVE_MS),
    // One HTTP/2 connection per client: grpc-js would otherwise share one
    // between a producer and a consumer of the same server, and large
    // messages both ways over one Node http2 connection with large windows
    // can stall (found in transport-grpc).
    'grpc.use_local_subchannel_pool': 1,
    // No transparent retries where a DoPut may write its messages to HTTP/2
    // itself (direct.ts): grpc-js could not replay them on a retried attempt.
    // A refused stream fails the call instead, as any broken call does.
    ...(fast ? { 'grpc.enable_retries': 0 } : {}),
    ...options.channelOptions,
  };
  let creds = options.credentials;
  if (creds === undefined && options.tls !== undefined) {
    const secure = tlsChannelCredentials(grpcCredentials, options.tls);
    creds = secure.credentials;
    Object.assign(channelOptions, secure.channelOptions);
  }
  const client = new Client(target, creds ?? grpcCredentials.createInsecure(), channelOptions);
  let token: Promise<string | undefined> | undefined;
  const bearer = (): Promise<string | undefined> => {
    if (token === undefined) {
      token =
        options.username !== undefined
          ? handshake(client, target, options.username, options.password ?? '', options.metadata)
          : Promise.resolve(options.token);
    }
    return token;
  };
  return {
    client,
    target,
    stream,
    maxMessageBytes,
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    fast,
    async metadata() {
      const md = new Metadata();
      for (const [k, v] of Object.entries(options.metadata ?? {})) md.set(k, v);
      const t = await bearer();
      if (t !== undefined) md.set('authorization', `Bearer ${t}`);
      return md;
    },
  };
}

const identity = (b: Buffer): Buffer => b;

/**
 * A Flight handshake with `authorization: Basic …`: the token is the
 * server's `authorization: Bearer …` header, else its response payload.
 * @throws HarmonicsError `ERR_HANDSHAKE` when the server refuses.
 */
function handshake(
  client: Client,
  target: string,
  username: string,
  password: string,
  extra: Record<string, string> | undefined,
): Promise<string | undefined> {
  const md = new Metadata();
  for (const [k, v] of Object.entries(extra ?? {})) md.set(k, v);
  md.set('authorization', `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`);
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest<Buffer, Buffer>(methodPath('Handshake'), identity, identity, md, {});
    let header: string | undefined;
    let payload: string | undefined;
    call.on('metadata', (m: Metadata) => {
      const v = m.get('authorization')[0];
      if (typeof v === 'string' && /^bearer /i.test(v)) header = v.slice(7).trim();
    });
    call.on('data', (b: Buffer) => {
      try {
        payload ??= decodeUtf8(decodeBytesField(b, 2, 'HandshakeResponse'), 'HandshakeResponse');
      } catch {
        // a payload that is not text is not a token
      }
    });
    call.on('error', (err) => {
      const e = callError(err, 'Handshake', target, false);
      reject(e.code === 'ERR_PROTOCOL' || e.code === 'ERR_CONNECTION_LOST' ? new HarmonicsError('ERR_HANDSHAKE', e.message, { cause: err }) : e);
    });
    call.on('end', () => resolve(header ?? (payload === '' ? undefined : payload)));
    call.end();
  });
}
