import { type NatsConnection, RequestError, TimeoutError } from '@nats-io/nats-core';
import { AckPolicy, DeliverPolicy, JetStreamApiError, type JetStreamManager, StorageType, jetstreamManager } from '@nats-io/jetstream';
import { HarmonicsError } from '@harmonics/core';
import { type Connector, type NatsOptions, connectOptionsOf } from './options.js';
import { chunkSubjectOf } from './protocol.js';

/** A connection and whether closing the end closes it. */
export interface Held {
  nc: NatsConnection;
  own: boolean;
}

/** Opens a connection (or takes the caller's); failures are `ERR_CONNECT`. */
export async function hold(connect: Connector, o: NatsOptions, what: string): Promise<Held> {
  if (o.connection !== undefined) {
    if (o.connection.isClosed()) throw new HarmonicsError('ERR_CLOSED', `${what}: the NATS connection given in { connection } is closed`);
    return { nc: o.connection, own: false };
  }
  try {
    return { nc: await connect(connectOptionsOf(o, `harmonics ${what}`)), own: true };
  } catch (err) {
    throw new HarmonicsError(
      'ERR_CONNECT',
      `${what}: cannot connect to NATS at ${[o.servers].flat().join(', ')}: ${(err as Error).message}; is nats-server running there?`,
      { cause: err },
    );
  }
}

/** Releases a held connection: flushes what was published (acks too), closes it if it is ours. */
export async function release(held: Held): Promise<void> {
  if (held.nc.isClosed()) return;
  try {
    await held.nc.flush();
  } catch {
    // closing anyway
  }
  if (held.own) await held.nc.close().catch(() => undefined);
}

const nanos = (ms: number): number => Math.round(ms * 1e6);

/** How long set-up requests (stream and consumer look-ups) are retried through a fail-over or a restart. */
export const SETUP_RETRY_MS = 30_000;

/**
 * A JetStream request that failed for now: no answer in time, or "temporarily
 * unavailable" (a cluster electing a leader). "No responders" is not: it
 * means the server has no JetStream.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof TimeoutError || (err instanceof RequestError && !/no responders/i.test(err.message))) return true;
  return err instanceof JetStreamApiError && (err.status === 503 || err.code === 10008);
}

/** `request()`, tried again while it fails transiently, for up to {@link SETUP_RETRY_MS}. */
export async function retrying<T>(nc: NatsConnection, request: () => Promise<T>): Promise<T> {
  const until = Date.now() + SETUP_RETRY_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return await request();
    } catch (err) {
      if (!isTransient(err) || nc.isClosed() || Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
    }
  }
}

/** Whether an error is the server saying "no such stream" / "no such consumer". */
export function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === 10059 || err.code === 10014 || err.status === 404);
}

/** The JetStream manager; `ERR_PROTOCOL` if the server runs without JetStream. */
export async function managerOf(nc: NatsConnection, what: string): Promise<JetStreamManager> {
  try {
    return await retrying(nc, () => jetstreamManager(nc));
  } catch (err) {
    throw new HarmonicsError(
      'ERR_PROTOCOL',
      `${what}: the NATS server does not answer JetStream requests (${(err as Error).message}); start it with JetStream on (nats-server -js)`,
      {
        cause: err,
      },
    );
  }
}

/**
 * Makes sure `stream` exists (creating it with `[subject, subject.chunks]`,
 * file storage and direct gets allowed, if asked); returns whether it allows
 * direct gets (chunks are then read as raw bytes rather than through the
 * JSON message-get API).
 */
export async function ensureStream(
  nc: NatsConnection,
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  create: boolean,
  replicas: number,
  what: string,
): Promise<boolean> {
  try {
    return (await retrying(nc, () => jsm.streams.info(stream))).config.allow_direct === true;
  } catch (err) {
    if (!isNotFound(err)) throw apiError(err, `${what}: cannot look up JetStream stream "${stream}"`);
    if (!create)
      throw new HarmonicsError(
        'ERR_CONNECT',
        `${what}: JetStream stream "${stream}" does not exist; create it, or pass { createStream: true } (?createStream in a URL)`,
        {
          cause: err,
        },
      );
  }
  try {
    const made = await retrying(nc, () =>
      jsm.streams.add({
        name: stream,
        subjects: [subject, chunkSubjectOf(subject)],
        storage: StorageType.File,
        num_replicas: replicas,
        allow_direct: true,
      }),
    );
    return made.config.allow_direct === true;
  } catch (err) {
    // Another end created it first: fine if it is there now.
    try {
      return (await retrying(nc, () => jsm.streams.info(stream))).config.allow_direct === true;
    } catch {
      throw apiError(err, `${what}: cannot create JetStream stream "${stream}"`);
    }
  }
}

/** What a reader needs to name or create its pull consumer. */
export interface PullSpec {
  stream: string;
  subject: string;
  durable?: string;
  startSequence?: number;
  startTime?: Date | string;
  maxAckPending?: number;
  ackWaitMs?: number;
}

/** The pull consumer's name: the durable (created if missing) or a new ephemeral one. */
export async function ensurePullConsumer(nc: NatsConnection, jsm: JetStreamManager, spec: PullSpec, what: string): Promise<string> {
  if (spec.durable !== undefined) {
    try {
      await retrying(nc, () => jsm.consumers.info(spec.stream, spec.durable!));
      return spec.durable;
    } catch (err) {
      if (!isNotFound(err)) throw apiError(err, `${what}: cannot look up consumer "${spec.durable}" of stream "${spec.stream}"`);
    }
  }
  const config: Record<string, unknown> = { ack_policy: AckPolicy.Explicit, filter_subject: spec.subject, deliver_policy: DeliverPolicy.All };
  if (spec.startSequence !== undefined) {
    config.deliver_policy = DeliverPolicy.StartSequence;
    config.opt_start_seq = spec.startSequence;
  } else if (spec.startTime !== undefined) {
    const time = new Date(spec.startTime);
    if (Number.isNaN(time.getTime()))
      throw new HarmonicsError(
        'ERR_INVALID_ARGUMENT',
        `startTime ${JSON.stringify(spec.startTime)} is not a date (ISO 8601, e.g. 2026-12-01T10:00:00Z)`,
      );
    config.deliver_policy = DeliverPolicy.StartTime;
    config.opt_start_time = time.toISOString();
  }
  if (spec.maxAckPending !== undefined) config.max_ack_pending = spec.maxAckPending;
  if (spec.ackWaitMs !== undefined) config.ack_wait = nanos(spec.ackWaitMs);
  if (spec.durable !== undefined) config.durable_name = spec.durable;
  else config.inactive_threshold = nanos(5 * 60_000); // the server removes it if this process dies without closing
  try {
    return (await retrying(nc, () => jsm.consumers.add(spec.stream, config))).name;
  } catch (err) {
    if (spec.durable !== undefined) {
      // Several workers creating one durable at once: the others find it made.
      try {
        await retrying(nc, () => jsm.consumers.info(spec.stream, spec.durable!));
        return spec.durable;
      } catch {
        // report the first error
      }
    }
    throw apiError(err, `${what}: cannot create a pull consumer on stream "${spec.stream}"`);
  }
}

/** A JetStream API failure as a HarmonicsError (`ERR_CONNECT` for a missing stream, `ERR_PROTOCOL` otherwise). */
export function apiError(err: unknown, context: string): HarmonicsError {
  if (err instanceof HarmonicsError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new HarmonicsError(isNotFound(err) ? 'ERR_CONNECT' : 'ERR_PROTOCOL', `${context}: ${detail}`, { cause: err });
}
