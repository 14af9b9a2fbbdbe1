import type { ConnectionOptions, NatsConnection } from '@nats-io/nats-core';
import { HarmonicsError, type Target } from '@harmonics/core';
import { type ParamKind, applyParams, checkPositive, invalidArgument } from '@harmonics/internal';

/** Opens a NATS connection: `connect` of `@nats-io/transport-node` in Node, `wsconnect` in browsers. */
export type Connector = (options: ConnectionOptions) => Promise<NatsConnection>;

/** Where the tensors go or come from, and how to reach the server. Shared by both ends. */
export interface NatsOptions {
  /**
   * An open connection to use. It stays yours: closing the Producer/Consumer
   * does not close it. Without it, each Producer/Consumer opens (and closes)
   * its own connection to `servers`.
   */
  connection?: NatsConnection;
  /** Server URLs (`nats://host:port`, `ws://host:port` in browsers); a cluster's several. From the target URL when one is given. */
  servers?: string | string[];
  /** Passed to the client's `connect` (reconnection, TLS, authenticator, name, …). `servers`, `token`, `user`, `pass` win over the same fields here. */
  connectOptions?: ConnectionOptions;
  /** Authentication token. */
  token?: string;
  /** User name (with `pass`). */
  user?: string;
  /** Password (with `user`). */
  pass?: string;
  /** Connect with TLS (Node: `tls: {}`; add certificates through `connectOptions.tls`). */
  tls?: boolean;
  /**
   * JetStream stream. Without it the subject is a plain NATS subject:
   * at-most-once, nothing stored. With it, `push()` resolves on the stream's
   * PubAck and readers pull from the stream.
   */
  stream?: string;
  /**
   * Create the stream if it does not exist, with subjects `[subject,
   * subject.chunks]`, file storage and `replicas` copies. An existing stream
   * is used as it is.
   */
  createStream?: boolean;
  /** Replicas of a stream this end creates (1, or 3 on a 3-node cluster). Default 1. */
  replicas?: number;
  /** Largest record (header + data) either end accepts. Default: core's `DEFAULT_MAX_MESSAGE_BYTES` (256 MiB). */
  maxMessageBytes?: number;
}

/** Options of a {@link NatsConsumer}. */
export interface NatsConsumerOptions extends NatsOptions {
  /**
   * Publish an end-of-stream marker on `close()` (default `true`). Readers
   * that receive it end cleanly. Set `false` when several writers share a
   * subject or stream and the stream must not end when one of them is done.
   */
  end?: boolean;
  /** JetStream: how long one `push()` may take, retries through reconnections included. Default 60 s; then `ERR_TIMEOUT`. */
  publishTimeoutMs?: number;
  /**
   * JetStream: bytes of record per chunk for tensors over the server's
   * `max_payload`. Default and maximum: `max_payload − 8 KiB` (1016 KiB on a
   * default server).
   */
  chunkBytes?: number;
  /** Plain subjects: bytes published but not yet flushed to the server before `push()` waits for a flush. Default 8 MiB. */
  highWaterMark?: number;
}

/** Options of a {@link NatsProducer}. */
export interface NatsProducerOptions extends NatsOptions {
  /** Plain subjects: join this queue group; each message goes to one member of the group. */
  queue?: string;
  /**
   * JetStream: the durable pull consumer to read through, created if missing.
   * Every Producer on one durable shares its messages: a work queue. Without
   * it each Producer reads the whole stream through its own ephemeral consumer.
   */
  durable?: string;
  /** JetStream, for a consumer this Producer creates: start at this stream sequence. */
  startSequence?: number;
  /** JetStream, for a consumer this Producer creates: start at the first message stored at or after this time. */
  startTime?: Date | string;
  /** JetStream, for a consumer this Producer creates: messages handed out and not yet acknowledged, over all its readers (server default 1000). */
  maxAckPending?: number;
  /** JetStream, for a consumer this Producer creates: how long a delivered message may stay unacknowledged before the server redelivers it. Default 30 s. */
  ackWaitMs?: number;
  /** JetStream: messages fetched ahead of `next()`. Default 64; 1 for the fairest work queue. */
  prefetch?: number;
  /**
   * Reject a waiting `next()` with `ERR_TIMEOUT` after this long without a
   * message. Default: wait (a work queue may be idle); a lost server is
   * reported when the client gives up reconnecting.
   */
  idleTimeoutMs?: number;
}

/** Query parameters both ends take. */
const COMMON_PARAMS: Readonly<Record<string, ParamKind>> = {
  stream: 'string',
  createStream: 'flag',
  replicas: 'integer',
  maxMessageBytes: 'integer',
  token: 'string',
  user: 'string',
  pass: 'string',
  tls: 'flag',
};

/** Query parameters of `nats://` targets for a writer, and the option each sets. */
export const CONSUMER_PARAMS: Readonly<Record<string, ParamKind>> = {
  ...COMMON_PARAMS,
  end: 'flag',
  publishTimeoutMs: 'number',
  chunkBytes: 'integer',
  highWaterMark: 'integer',
};
/** Query parameters of `nats://` targets for a reader. */
export const PRODUCER_PARAMS: Readonly<Record<string, ParamKind>> = {
  ...COMMON_PARAMS,
  queue: 'string',
  durable: 'string',
  startSequence: 'integer',
  startTime: 'string',
  maxAckPending: 'integer',
  ackWaitMs: 'number',
  prefetch: 'integer',
  idleTimeoutMs: 'number',
};

/** A target URL split into servers, subject and options. */
export interface ParsedNatsUrl {
  servers: string[];
  subject: string;
  options: Record<string, unknown>;
}

/**
 * `nats://HOST:PORT/SUBJECT?stream=S&durable=D` (also `tls://`, and `ws://` /
 * `wss://` for NATS over WebSocket) into servers, subject and options; the
 * query parameters override `options`.
 */
export function parseNatsUrl(href: string, options: object, spec: Readonly<Record<string, ParamKind>>): ParsedNatsUrl {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    throw invalidArgument(`${href}: not a URL; write nats://HOST:PORT/SUBJECT`);
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (!['nats', 'tls', 'ws', 'wss'].includes(scheme))
    throw new HarmonicsError('ERR_UNSUPPORTED_SCHEME', `${href}: NATS targets are nats://, tls://, ws:// or wss:// URLs`);
  const subject = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
  if (subject === '') throw invalidArgument(`${href}: no subject; write nats://HOST:PORT/SUBJECT`);
  const params: Record<string, string> = {};
  for (const [k, v] of url.searchParams) params[k] = v;
  const port = url.port === '' ? (scheme === 'nats' || scheme === 'tls' ? 4222 : undefined) : Number(url.port);
  const target: Target = { href, scheme: 'nats', host: url.hostname, port, path: subject, params };
  const merged = applyParams<Record<string, unknown>>(target, options as Record<string, unknown>, spec);
  if (url.username !== '' && merged.user === undefined && merged.token === undefined) {
    if (url.password !== '') {
      merged.user = decodeURIComponent(url.username);
      merged.pass = decodeURIComponent(url.password);
    } else merged.token = decodeURIComponent(url.username);
  }
  const server = `${scheme}://${url.host}`;
  return { servers: [server], subject, options: merged };
}

/**
 * A constructor's target and options as a subject and the options to use: a
 * URL's servers and query parameters applied over `options`, then checked
 * (`ERR_INVALID_ARGUMENT` at the call, also when there is no way to connect).
 */
export function resolveTarget<O extends NatsOptions>(
  target: string,
  options: O,
  spec: Readonly<Record<string, ParamKind>>,
  connect: Connector | undefined,
): { subject: string; options: O } {
  let subject = target;
  let o = options;
  if (target.includes('://')) {
    const parsed = parseNatsUrl(target, options, spec);
    subject = parsed.subject;
    o = { servers: parsed.servers, ...parsed.options } as O;
  }
  checkCommon(subject, o);
  if (connect === undefined && o.connection === undefined)
    throw invalidArgument(
      `NATS subject "${subject}": no way to connect; pass { connection }, or use the Node or browser entry of @harmonics/transport-nats`,
    );
  return { subject, options: o };
}

/** Checks what both ends share; throws `ERR_INVALID_ARGUMENT` at the call. */
export function checkCommon(subject: string, o: NatsOptions & { prefetch?: number }): void {
  if (typeof subject !== 'string' || subject === '' || /\s/.test(subject))
    throw invalidArgument(`NATS subject ${JSON.stringify(subject)} is not valid: a non-empty string without spaces`);
  if (o.connection === undefined && o.servers === undefined)
    throw invalidArgument(`NATS subject "${subject}": say where the server is, with a nats://HOST:PORT/SUBJECT URL or { servers } or { connection }`);
  if (o.stream !== undefined && (typeof o.stream !== 'string' || !/^[^\s.*>/\\]+$/.test(o.stream)))
    throw invalidArgument(`JetStream stream name ${JSON.stringify(o.stream)} is not valid: no spaces, '.', '*', '>', '/' or '\\'`);
  if (o.createStream === true && o.stream === undefined) throw invalidArgument('createStream needs a stream name ({ stream })');
  for (const name of [
    'replicas',
    'maxMessageBytes',
    'prefetch',
    'chunkBytes',
    'highWaterMark',
    'publishTimeoutMs',
    'maxAckPending',
    'ackWaitMs',
    'idleTimeoutMs',
  ] as const) {
    const value = (o as Record<string, unknown>)[name];
    if (value !== undefined) checkPositive(name, value);
  }
}

/** The options given to the client's `connect`. */
export function connectOptionsOf(o: NatsOptions, name: string): ConnectionOptions {
  const out: ConnectionOptions = { name, ...o.connectOptions };
  if (o.servers !== undefined) out.servers = o.servers;
  if (o.token !== undefined) out.token = o.token;
  if (o.user !== undefined) out.user = o.user;
  if (o.pass !== undefined) out.pass = o.pass;
  if (o.tls === true && out.tls === undefined) out.tls = {};
  return out;
}
