import { type MsgHdrs, type NatsConnection, headers as natsHeaders } from '@nats-io/nats-core';
import { type JetStreamClient, JetStreamApiError, jetstream } from '@nats-io/jetstream';
import { type AbortOptions, BaseConsumer, DEFAULT_MAX_MESSAGE_BYTES, HarmonicsError, type Tensor, encodeTensor } from '@harmonics/core';
import { closedError, noop, raceSignals, throwIfAborted, tooLargeError } from '@harmonics/internal';
import { type Held, ensureStream, hold, managerOf, release } from './connection.js';
import { type Connector, type NatsConsumerOptions, CONSUMER_PARAMS, resolveTarget } from './options.js';
import {
  CHUNKS_HEADER,
  CHUNK_CONCURRENCY,
  CHUNK_HEADROOM,
  DEFAULT_HIGH_WATER_MARK,
  DEFAULT_PUBLISH_TIMEOUT_MS,
  END_HEADER,
  LENGTH_HEADER,
  chunkSubjectOf,
} from './protocol.js';

/** `push()` options of a {@link NatsConsumer}. */
export interface NatsPushOptions extends AbortOptions {
  /**
   * JetStream: the message's `Nats-Msg-Id`. A second publish with the same id
   * within the stream's duplicate window (2 min by default) is not stored
   * again: its PubAck says `duplicate`. Default: a fresh id per `push()`.
   */
  msgId?: string;
}

/** What a JetStream `push()` stored: the PubAck's stream sequence and whether it was a duplicate. */
export interface NatsPubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

const RESOLVED: Promise<void> = Promise.resolve();

/** Run `fn` at the next turn of the event loop, after the microtasks of this one (setImmediate in Node; a timer in browsers). */
const nextTurn: (fn: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function'
    ? (fn) => void (globalThis as unknown as { setImmediate: (f: () => void) => unknown }).setImmediate(fn)
    : (fn) => void setTimeout(fn, 0);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A random id for this writer's messages (the per-push counter follows it). */
function writerId(): string {
  const bytes = new Uint8Array(9);
  globalThis.crypto.getRandomValues(bytes);
  let s = '';
  for (const b of bytes) s += b.toString(36).padStart(2, '0');
  return s;
}

interface Opened {
  held: Held;
  maxPayload: number;
  js?: JetStreamClient;
}

/**
 * Publishes tensors to a NATS subject, one C++ wire-format record per message.
 *
 * - **Plain subject** (no `stream`): at-most-once. `push()` resolves once the
 *   client has the message; it waits for a flush to the server when more than
 *   `highWaterMark` bytes are unflushed. Nothing is stored: readers that are
 *   not subscribed miss it, and a tensor over the server's `max_payload` is
 *   `ERR_TOO_LARGE` (use a stream).
 * - **JetStream** (`stream`): `push()` resolves on the stream's PubAck, so the
 *   tensor is durable once it resolves. Every message carries a `Nats-Msg-Id`;
 *   a publish that times out (a server restarting, a cluster electing a
 *   leader) is retried with the same id until `publishTimeoutMs`, so it is
 *   stored once. Tensors over `max_payload` go as chunks to `SUBJECT.chunks`,
 *   then a manifest to `SUBJECT` naming their sequences: readers see the
 *   manifest only once every chunk is stored, so a writer that dies
 *   mid-tensor leaves nothing a reader would deliver.
 *
 * `push()` calls run one after another, in call order. `close()` publishes an
 * end-of-stream marker (unless `end: false`) and closes the connection if it
 * opened it.
 */
export class NatsConsumerBase extends BaseConsumer {
  /** The subject tensors are published to. */
  readonly subject: string;
  /** The JetStream stream, if any. */
  readonly stream: string | undefined;
  /** The PubAck of the last JetStream `push()` that resolved. */
  lastAck: NatsPubAck | undefined;
  private readonly options: NatsConsumerOptions;
  private readonly opening: Promise<Opened>;
  private readonly closing = new AbortController();
  private readonly what: string;
  private readonly id = writerId();
  private readonly maxMessageBytes: number;
  private counter = 0;
  private openedNow: Opened | undefined;
  private queued = 0;
  private pendingPlain: Uint8Array[] = [];
  private plainFailure: HarmonicsError | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private unflushed = 0;
  private closed: Promise<void> | undefined;

  /**
   * @param target `nats://HOST:PORT/SUBJECT?stream=S…` (query parameters as
   *   in the README), or a bare subject with `{ servers }` or `{ connection }`.
   */
  constructor(target: string, options: NatsConsumerOptions = {}, connect?: Connector) {
    super();
    const { subject, options: o } = resolveTarget(target, options, CONSUMER_PARAMS, connect);
    this.subject = subject;
    this.stream = o.stream;
    this.options = o;
    this.maxMessageBytes = o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.what = `NatsConsumer(${o.stream !== undefined ? `stream ${o.stream}, ` : ''}subject ${subject})`;
    this.opening = this.open(connect!);
    this.opening.catch(noop);
  }

  /**
   * Resolves once connected and the stream is found or created (JetStream); rejects with the
   * connection's error (`ERR_CONNECT`, …). Optional: the first call waits anyway.
   */
  get ready(): Promise<void> {
    return this.opening.then(noop);
  }

  private async open(connect: Connector): Promise<Opened> {
    const held = await hold(connect, this.options, this.what);
    try {
      const maxPayload = held.nc.info?.max_payload ?? 1024 * 1024;
      if (this.stream === undefined) return (this.openedNow = { held, maxPayload });
      const jsm = await managerOf(held.nc, this.what);
      await ensureStream(held.nc, jsm, this.stream, this.subject, this.options.createStream === true, this.options.replicas ?? 1, this.what);
      return (this.openedNow = { held, maxPayload, js: jetstream(held.nc) });
    } catch (err) {
      await release(held);
      throw err;
    }
  }

  /**
   * Publish one tensor. Plain subjects: resolves when the client took it
   * (after a flush beyond `highWaterMark`). JetStream: resolves on the
   * PubAck (see {@link lastAck}).
   *
   * @throws HarmonicsError `ERR_TOO_LARGE` over `maxMessageBytes` (or over
   *   `max_payload` on a plain subject), `ERR_TIMEOUT` when no PubAck came
   *   within `publishTimeoutMs`, `ERR_CONNECTION_LOST` when the connection
   *   closed for good, `ERR_PROTOCOL` when the stream refused the message,
   *   `ERR_CLOSED`, `ERR_ABORTED` (an aborted JetStream publish may still have
   *   been stored; pushing it again with the same `msgId` stores it once).
   */
  push(t: Tensor, options?: NatsPushOptions): Promise<void> {
    if (this.closed) return Promise.reject(closedError(this.what));
    try {
      throwIfAborted(options?.signal, 'push()');
      // Fast path, plain subjects: nothing queued before it, so publish now, in order, without a promise chain.
      const opened = this.openedNow;
      if (opened !== undefined && opened.js === undefined && this.queued === 0) return this.publishPlain(opened, t, options?.signal);
    } catch (err) {
      return Promise.reject(err);
    }
    // Pushes run one after another: a push made while others are in progress waits for them.
    const run = (): Promise<void> => this.publishOne(t, options);
    const p = this.queued++ === 0 ? run() : this.queue.then(run, run);
    p.then(this.pushDone, this.pushDone);
    this.queue = p;
    return p;
  }

  private readonly pushDone = (): void => {
    this.queued--;
  };

  private async publishOne(t: Tensor, options?: NatsPushOptions): Promise<void> {
    const signal = options?.signal;
    throwIfAborted(signal, 'push()');
    if (this.closing.signal.aborted) throw closedError(this.what);
    const bytes = encodeTensor(t);
    if (bytes.length > this.maxMessageBytes) throw tooLargeError(`${this.what}: tensor record`, bytes.length, this.maxMessageBytes);
    const opened = this.openedNow ?? (await raceSignals(this.opening, signal, 'push()', this.closing.signal, this.what));
    const { nc } = opened.held;
    if (nc.isClosed()) throw lostError(this.what, nc);
    if (opened.js === undefined) return this.publishPlain(opened, t, signal, bytes);
    const msgId = options?.msgId ?? `${this.id}.${this.counter++}`;
    const chunkLimit = Math.min(this.options.chunkBytes ?? Infinity, opened.maxPayload - CHUNK_HEADROOM);
    const work =
      bytes.length <= chunkLimit ? this.publishAcked(opened, this.subject, bytes, msgId) : this.publishChunked(opened, bytes, msgId, chunkLimit);
    // close() waits for pushes in progress, so only the caller's signal can cut one short.
    this.lastAck = signal === undefined ? await work : await raceSignals(work, signal, 'push()');
  }

  /**
   * A plain publish. Records pushed within one turn of the event loop are
   * handed to the client together at the end of it (one socket write for
   * many small tensors, as a loop of synchronous publishes gets); beyond
   * `highWaterMark` bytes not yet flushed to the server, the returned promise
   * waits for them to be.
   */
  private publishPlain(opened: Opened, t: Tensor, signal: AbortSignal | undefined, encoded?: Uint8Array): Promise<void> {
    const { nc } = opened.held;
    if (this.plainFailure !== undefined) throw this.plainFailure;
    if (nc.isClosed()) throw lostError(this.what, nc);
    const bytes = encoded ?? encodeTensor(t);
    if (bytes.length > this.maxMessageBytes) throw tooLargeError(`${this.what}: tensor record`, bytes.length, this.maxMessageBytes);
    if (bytes.length + CHUNK_HEADROOM > opened.maxPayload)
      throw new HarmonicsError(
        'ERR_TOO_LARGE',
        `${this.what}: a record of ${bytes.length} bytes does not fit the server's max_payload (${opened.maxPayload}); ` +
          'plain subjects carry one message per tensor: use a JetStream stream (?stream=NAME), which sends larger tensors in chunks, or raise max_payload on the server',
      );
    this.pendingPlain.push(bytes);
    if (this.pendingPlain.length === 1) nextTurn(() => this.handOver(opened));
    this.unflushed += bytes.length;
    if (this.unflushed <= (this.options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK)) return RESOLVED;
    this.unflushed = 0;
    this.handOver(opened);
    return raceSignals(nc.flush(), signal, 'push()', this.closing.signal, this.what).catch((err: unknown) => {
      throw nc.isClosed() ? lostError(this.what, nc, err) : err;
    });
  }

  /** Publishes the records pushed since the last hand-over, in order. A failure is reported by the next push() or close(). */
  private handOver(opened: Opened): void {
    const pending = this.pendingPlain;
    if (pending.length === 0) return;
    this.pendingPlain = [];
    try {
      for (const bytes of pending) opened.held.nc.publish(this.subject, bytes);
    } catch (err) {
      this.plainFailure ??= opened.held.nc.isClosed()
        ? lostError(this.what, opened.held.nc, err)
        : new HarmonicsError('ERR_CONNECTION_LOST', `${this.what}: the client refused a publish: ${(err as Error).message}`, { cause: err });
    }
  }

  private async publishChunked(opened: Opened, bytes: Uint8Array, msgId: string, chunkBytes: number): Promise<NatsPubAck> {
    const count = Math.ceil(bytes.length / chunkBytes);
    const seqs = new Array<number>(count);
    const chunkSubject = chunkSubjectOf(this.subject);
    let nextChunk = 0;
    const lane = async (): Promise<void> => {
      while (nextChunk < count) {
        const i = nextChunk++;
        const piece = bytes.subarray(i * chunkBytes, Math.min(bytes.length, (i + 1) * chunkBytes));
        seqs[i] = (await this.publishAcked(opened, chunkSubject, piece, `${msgId}.${i}`)).seq;
      }
    };
    await Promise.all(Array.from({ length: Math.min(CHUNK_CONCURRENCY, count) }, lane));
    const h = natsHeaders();
    h.set(CHUNKS_HEADER, seqs.join(','));
    h.set(LENGTH_HEADER, String(bytes.length));
    return this.publishAcked(opened, this.subject, new Uint8Array(0), msgId, h);
  }

  /** One JetStream publish, retried with the same msgId through timeouts and reconnections until `publishTimeoutMs`. */
  private async publishAcked(opened: Opened, subject: string, payload: Uint8Array, msgID: string, headers?: MsgHdrs): Promise<NatsPubAck> {
    const budget = this.options.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS;
    const deadline = Date.now() + budget;
    const { nc } = opened.held;
    let attempt = 0;
    for (;;) {
      if (this.closing.signal.aborted) throw closedError(this.what);
      const left = deadline - Date.now();
      try {
        const ack = await opened.js!.publish(subject, payload, {
          msgID,
          headers,
          timeout: Math.max(250, Math.min(5000, left)),
          expect: { streamName: this.stream },
        });
        return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
      } catch (err) {
        if (nc.isClosed()) throw lostError(this.what, nc, err);
        if (err instanceof JetStreamApiError) {
          const tooBig = /maximum (message|payload)|too large/i.test(err.message);
          throw new HarmonicsError(
            tooBig ? 'ERR_TOO_LARGE' : 'ERR_PROTOCOL',
            `${this.what}: stream "${this.stream}" refused the message on ${subject}: ${err.message}` +
              (subject !== this.subject && /no responders|not found/i.test(err.message) ? `; does the stream take subject ${subject}?` : ''),
            { cause: err },
          );
        }
        if (Date.now() >= deadline)
          throw new HarmonicsError(
            'ERR_TIMEOUT',
            `${this.what}: no PubAck from stream "${this.stream}" within ${budget} ms (publishTimeoutMs): ${(err as Error).message}`,
            { cause: err },
          );
        // A timeout or "no responders" while a server restarts or a leader is elected: wait, and publish again with the same id.
        await sleep(Math.min(2000, 100 * 2 ** Math.min(attempt++, 5)));
      }
    }
  }

  /**
   * Publish the end-of-stream marker (unless `end: false`), flush, and close
   * the connection if this end opened it. Waits for pushes in progress.
   * Idempotent.
   */
  close(): Promise<void> {
    return (this.closed ??= this.shutdown());
  }

  private async shutdown(): Promise<void> {
    await this.queue.catch(noop);
    let opened: Opened;
    try {
      opened = await this.opening;
    } catch {
      this.closing.abort();
      return;
    }
    try {
      this.handOver(opened);
      if (this.plainFailure !== undefined) throw this.plainFailure;
      if (this.options.end !== false && !opened.held.nc.isClosed()) {
        const h = natsHeaders();
        h.set(END_HEADER, '1');
        if (opened.js !== undefined) await this.publishAcked(opened, this.subject, new Uint8Array(0), `${this.id}.end`, h);
        else opened.held.nc.publish(this.subject, new Uint8Array(0), { headers: h });
      }
    } finally {
      this.closing.abort();
      await release(opened.held);
    }
  }

  override toString(): string {
    return this.what;
  }
}

/** `ERR_CONNECTION_LOST` for a connection that closed for good. */
export function lostError(what: string, nc: NatsConnection, cause?: unknown): HarmonicsError {
  return new HarmonicsError(
    'ERR_CONNECTION_LOST',
    `${what}: the NATS connection closed (the client gave up reconnecting${cause ? `: ${(cause as Error).message}` : ''})`,
    {
      cause: cause ?? nc,
    },
  );
}
