import type { Msg, Subscription } from '@nats-io/nats-core';
import { type Consumer as JsConsumer, type ConsumerMessages, type JetStreamManager, type JsMsg, jetstream } from '@nats-io/jetstream';
import { type AbortOptions, BaseProducer, DEFAULT_MAX_MESSAGE_BYTES, HarmonicsError, type Tensor, decodeTensor } from '@harmonics/core';
import { closedError, decodeTensorInPlace, noop, raceSignals, tooLargeError } from '@harmonics/internal';
import { type Held, apiError, ensurePullConsumer, ensureStream, hold, managerOf, release, retrying } from './connection.js';
import { lostError } from './consumer.js';
import { type Connector, type NatsProducerOptions, PRODUCER_PARAMS, resolveTarget } from './options.js';
import { CHUNKS_HEADER, CHUNK_CONCURRENCY, DEFAULT_PREFETCH, END_HEADER, LENGTH_HEADER, MSG_ID_HEADER } from './protocol.js';

/** Where the tensor last returned by `next()` came from (JetStream). */
export interface NatsDelivery {
  /** The stream. */
  stream: string;
  /** The message's stream sequence (a chunked tensor's manifest's): the same on every redelivery. */
  seq: number;
  /** How many times the server delivered it, this time included (1 the first time). */
  deliveryCount: number;
  /** Whether it was delivered before (to this or another reader) and not acknowledged. */
  redelivered: boolean;
  /** When the stream stored it. */
  time: Date;
  /** Its `Nats-Msg-Id` (what `push(t, { msgId })` or `runStage` set; a fresh id otherwise). */
  msgId: string | undefined;
}

interface Opened {
  held: Held;
  sub?: Subscription;
  jsm?: JetStreamManager;
  consumer?: JsConsumer;
  consumerName?: string;
  /** The stream allows direct gets: chunks are read as raw bytes. */
  direct?: boolean;
}

/** A FIFO of messages that the connection hands over synchronously (no per-message promise). */
class MessageQueue<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  peek(): T | undefined {
    return this.items[this.head];
  }
  /** The i-th item from the front. */
  at(i: number): T | undefined {
    return this.items[this.head + i];
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    (this.items as (T | undefined)[])[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
  splice(): T[] {
    const out = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }
}

type Taken = { tensor: Tensor | undefined; msg?: JsMsg };

/** How long an end marker that arrived before the work ahead of it was done is put back for (ms). */
const END_RETRY_MS = 250;

/** Acknowledged sequences remembered per Producer, to skip redeliveries whose ack was lost. */
const RECENT_ACKS = 4096;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Reads tensors from a NATS subject.
 *
 * - **Plain subject**: subscribes (in queue group `queue`, if given, so each
 *   message goes to one member). At-most-once: what is published while no
 *   one is subscribed is gone.
 * - **JetStream** (`stream`): pulls from the stream through a pull consumer:
 *   the durable `durable` (shared by every Producer that names it: a work
 *   queue across processes and machines) or an ephemeral one of its own (the
 *   whole stream, from `startSequence` / `startTime` if given). **A tensor is
 *   acknowledged when the caller asks for the next one, or closes**: a reader
 *   killed while working on a tensor has it redelivered, after `ackWaitMs`,
 *   to another reader on the same durable. {@link delivery} tells where the
 *   last tensor came from. Chunked tensors are reassembled before `next()`
 *   returns them: whole, or not at all.
 *
 * The end-of-stream marker of a {@link NatsConsumer} ends it cleanly: `next()`
 * resolves `undefined`. On a durable the marker is handed on (not
 * acknowledged), so every reader of the work queue ends. A connection that
 * closes for good (the client stops reconnecting) rejects `ERR_CONNECTION_LOST`.
 *
 * Memory: up to `prefetch` messages fetched ahead (each at most the server's
 * `max_payload`), plus one reassembled tensor and `4 × max_payload` of chunks
 * on their way to it.
 */
export class NatsProducerBase extends BaseProducer {
  /** The subject read from. */
  readonly subject: string;
  /** The JetStream stream, if any. */
  readonly stream: string | undefined;
  private delivered: JsMsg | undefined;
  private readonly options: NatsProducerOptions;
  private readonly opening: Promise<Opened>;
  private readonly closing = new AbortController();
  private readonly what: string;
  private readonly maxMessageBytes: number;
  private pendingTake: Promise<Taken> | undefined;
  private toAck: JsMsg | undefined;
  // Stream sequences this Producer acknowledged lately: a redelivery of one (its ack was lost with a connection) is acked again and skipped.
  private readonly acked = new Set<number>();
  private readonly ackedOrder = new Array<number>(RECENT_ACKS);
  private ackedAt = 0;
  private ended = false;
  private closed: Promise<void> | undefined;
  private releasing: Promise<void> | undefined;
  // Plain subjects: what the subscription delivered, and whether it closed.
  private readonly received = new MessageQueue<Msg>();
  private subscriptionClosed = false;
  // JetStream: messages fetched ahead, the fetch in progress, and who waits for either.
  private readonly fetched = new MessageQueue<JsMsg>();
  private openedNow: Opened | undefined;
  private fetching: ConsumerMessages | undefined;
  private fetchDone: Promise<void> | undefined;
  private failure: HarmonicsError | undefined;
  private wake: (() => void) | undefined;

  /**
   * @param target `nats://HOST:PORT/SUBJECT?stream=S&durable=D…`, or a bare
   *   subject with `{ servers }` or `{ connection }`.
   */
  constructor(target: string, options: NatsProducerOptions = {}, connect?: Connector) {
    super();
    const { subject, options: o } = resolveTarget(target, options, PRODUCER_PARAMS, connect);
    const jsOnly = (['durable', 'startSequence', 'startTime', 'maxAckPending', 'ackWaitMs'] as const).find((k) => o[k] !== undefined);
    if (o.stream === undefined && jsOnly !== undefined)
      throw new HarmonicsError(
        'ERR_INVALID_ARGUMENT',
        `${jsOnly} applies to JetStream streams; add { stream } (?stream=NAME), or leave it out for a plain subject`,
      );
    if (o.stream !== undefined && o.queue !== undefined)
      throw new HarmonicsError(
        'ERR_INVALID_ARGUMENT',
        'queue groups are for plain subjects; on a stream, readers that share a { durable } form the work queue',
      );
    this.subject = subject;
    this.stream = o.stream;
    this.options = o;
    this.maxMessageBytes = o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.what = `NatsProducer(${o.stream !== undefined ? `stream ${o.stream}${o.durable !== undefined ? `, durable ${o.durable}` : ''}, ` : ''}subject ${subject})`;
    this.opening = this.open(connect!);
    this.opening.catch(noop);
  }

  /**
   * Resolves once connected and subscribed (plain subject) or its pull consumer exists (JetStream): tensors published after this reach it; rejects with the
   * connection's error (`ERR_CONNECT`, …). Optional: the first call waits anyway.
   */
  get ready(): Promise<void> {
    return this.opening.then(noop);
  }

  /** Where the tensor last returned by `next()` came from (JetStream); `undefined` on plain subjects and after the end. */
  get delivery(): NatsDelivery | undefined {
    const m = this.delivered;
    if (m === undefined) return undefined;
    const info = m.info;
    return {
      stream: info.stream,
      seq: m.seq,
      deliveryCount: info.deliveryCount,
      redelivered: m.redelivered,
      time: m.time,
      msgId: m.headers?.get(MSG_ID_HEADER) || undefined,
    };
  }

  private async open(connect: Connector): Promise<Opened> {
    const held = await hold(connect, this.options, this.what);
    try {
      if (this.stream === undefined) {
        // Messages are handed over by callback into our queue: next() then returns those already here without a promise each.
        const sub = held.nc.subscribe(this.subject, {
          ...(this.options.queue !== undefined ? { queue: this.options.queue } : {}),
          callback: (err, m) => {
            if (err === null) this.received.push(m);
            this.wake?.();
          },
        });
        void sub.closed.then(() => {
          this.subscriptionClosed = true;
          this.wake?.();
        });
        // The subscription is registered with the server once this round trip completes: publishes after it reach us.
        await held.nc.flush();
        return (this.openedNow = { held, sub });
      }
      const jsm = await managerOf(held.nc, this.what);
      const direct = await ensureStream(
        held.nc,
        jsm,
        this.stream,
        this.subject,
        this.options.createStream === true,
        this.options.replicas ?? 1,
        this.what,
      );
      const name = await ensurePullConsumer(held.nc, jsm, { ...this.options, stream: this.stream, subject: this.subject }, this.what);
      const js = jetstream(held.nc);
      const consumer = await retrying(held.nc, () => js.consumers.get(this.stream!, name));
      return (this.openedNow = { held, jsm, consumer, consumerName: name, direct });
    } catch (err) {
      await release(held);
      throw err;
    }
  }

  protected async read(options?: AbortOptions): Promise<Tensor | undefined> {
    if (this.closed) throw closedError(this.what);
    // Asking for the next tensor acknowledges the one before.
    this.ackLast();
    this.delivered = undefined;
    if (this.ended) return undefined;
    // A take that an aborted or timed-out next() left running is picked up here, so nothing is lost.
    const taking = (this.pendingTake ??= this.take());
    let failed = false;
    taking.catch(() => (failed = true));
    let taken: Taken;
    try {
      taken = await raceSignals(this.withIdleTimeout(taking), options?.signal, 'next()', this.closing.signal, this.what);
    } catch (err) {
      // The take's own failure is reported once; an abort, a close or an idle timeout leaves the take to the next call.
      if (failed && this.pendingTake === taking) this.pendingTake = undefined;
      throw err;
    }
    this.pendingTake = undefined;
    // The end of the stream: let go of the connection now (a program that read to the end exits); next() stays undefined.
    if (this.ended) void this.releaseAll();
    if (taken.msg !== undefined) this.toAck = this.delivered = taken.msg;
    return taken.tensor;
  }

  /**
   * The fast path of `next()` (see BaseProducer): a plain record already
   * received, decoded without a promise. Anything else (the end marker, a
   * manifest, a redelivery to skip, a record that does not decode) goes the
   * slow way, which reports it.
   */
  protected override readReady(): Tensor | undefined {
    const opened = this.openedNow;
    if (opened === undefined || this.closed !== undefined || this.ended || this.pendingTake !== undefined) return undefined;
    if (opened.consumer === undefined) {
      const m = this.received.peek();
      if (m === undefined || m.headers !== undefined || m.data.length > this.maxMessageBytes) return undefined;
      let t: Tensor;
      try {
        t = decodeTensor(m.data);
      } catch {
        return undefined;
      }
      this.received.shift();
      return t;
    }
    const m = this.fetched.peek();
    if (m === undefined || m.data.length > this.maxMessageBytes || this.acked.has(m.seq)) return undefined;
    const h = m.headers;
    if (h !== undefined && (h.has(END_HEADER) || h.has(CHUNKS_HEADER))) return undefined;
    let t: Tensor;
    try {
      t = decodeTensor(m.data);
    } catch {
      return undefined;
    }
    this.fetched.shift();
    this.ackLast();
    this.toAck = this.delivered = m;
    if (this.fetched.length <= (this.options.prefetch ?? DEFAULT_PREFETCH) / 2) this.startFetch(opened);
    return t;
  }

  private ackLast(): void {
    const m = this.toAck;
    if (m === undefined) return;
    this.toAck = undefined;
    m.ack();
    this.handled(m.seq);
  }

  /** Remember a sequence this Producer is done with (acknowledged, or terminated as unreadable): a redelivery of it is skipped. */
  private handled(seq: number): void {
    const slot = this.ackedAt++ % RECENT_ACKS;
    const old = this.ackedOrder[slot];
    if (old !== undefined) this.acked.delete(old);
    this.ackedOrder[slot] = seq;
    this.acked.add(seq);
  }

  private withIdleTimeout(p: Promise<Taken>): Promise<Taken> {
    const ms = this.options.idleTimeoutMs;
    if (ms === undefined) return p;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HarmonicsError('ERR_TIMEOUT', `${this.what}: no message within ${ms} ms (idleTimeoutMs)`)), ms);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  private async take(): Promise<Taken> {
    const opened = await this.opening;
    return opened.consumer === undefined ? this.takePlain(opened) : this.takeStream(opened);
  }

  private async takePlain(opened: Opened): Promise<Taken> {
    for (;;) {
      const m = this.received.shift();
      if (m !== undefined) {
        if (m.headers?.has(END_HEADER) === true) {
          this.ended = true;
          opened.sub!.unsubscribe();
          return { tensor: undefined };
        }
        return { tensor: this.decode(m.data) };
      }
      if (this.subscriptionClosed) {
        if (this.closing.signal.aborted) throw closedError(this.what);
        throw lostError(this.what, opened.held.nc);
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  private async takeStream(opened: Opened): Promise<Taken> {
    for (;;) {
      const m = this.fetched.shift();
      if (m !== undefined) {
        if (this.fetched.length <= (this.options.prefetch ?? DEFAULT_PREFETCH) / 2) this.startFetch(opened);
        if (m.headers?.has(END_HEADER) === true) {
          if (this.options.durable !== undefined && (await this.workRemains(opened))) {
            // Inputs before the marker are still held by a reader (maybe one that died, whose input the server will
            // redeliver): the queue has not ended yet. Put the marker back for a moment, and keep taking work.
            m.nak(END_RETRY_MS);
            continue;
          }
          this.ended = true;
          // Hand the marker on, so the other readers of a durable end too; an ephemeral consumer is ours alone.
          if (this.options.durable !== undefined) m.nak();
          else m.ack();
          this.giveBack();
          return { tensor: undefined };
        }
        if (this.acked.has(m.seq)) {
          // Handed out and acknowledged by this Producer before: the ack did not reach the server, or the server lost it
          // (a server killed with SIGKILL restarts its consumers from their last synced state, and sends those messages again).
          m.ack();
          continue;
        }
        return { tensor: await this.decodeStored(opened, m), msg: m };
      }
      if (this.failure !== undefined) throw this.failure;
      this.startFetch(opened);
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  /**
   * Whether the durable still has work besides the end marker this reader
   * holds: messages this reader fetched after the marker (redeliveries can
   * come in any order: a dead reader's tensor may arrive behind the marker),
   * messages not yet delivered, or delivered and not acknowledged.
   */
  private async workRemains(opened: Opened): Promise<boolean> {
    let copies = 0;
    for (let i = 0; i < this.fetched.length; i++) {
      const m = this.fetched.at(i)!;
      if (this.acked.has(m.seq) || m.headers?.has(END_HEADER) === true) copies++;
      else return true;
    }
    const info = await retrying(opened.held.nc, () => opened.jsm!.consumers.info(this.stream!, opened.consumerName!));
    return info.num_pending > 0 || info.num_ack_pending > 1 + copies;
  }

  /** Keeps one pull request going while fewer than half of `prefetch` messages wait. */
  private startFetch(opened: Opened): void {
    if (this.fetchDone !== undefined || this.ended || this.closing.signal.aborted) return;
    const want = (this.options.prefetch ?? DEFAULT_PREFETCH) - this.fetched.length;
    if (want <= 0) return;
    this.fetchDone = this.runFetch(opened, want).finally(() => {
      this.fetchDone = undefined;
      this.fetching = undefined;
      this.wake?.();
    });
  }

  private async runFetch(opened: Opened, want: number): Promise<void> {
    const { nc } = opened.held;
    let attempt = 0;
    for (;;) {
      if (this.closing.signal.aborted || this.ended) return;
      if (nc.isClosed()) {
        this.failure = lostError(this.what, nc);
        return;
      }
      let got = 0;
      try {
        const iter = await opened.consumer!.fetch({ max_messages: want, expires: 5000 });
        this.fetching = iter;
        for await (const m of iter) {
          got++;
          if (this.closing.signal.aborted) {
            m.nak();
            continue;
          }
          this.fetched.push(m);
          this.wake?.();
        }
        if (got > 0) return;
        attempt = 0;
      } catch (err) {
        if (this.closing.signal.aborted) return;
        if (nc.isClosed()) {
          this.failure = lostError(this.what, nc, err);
          return;
        }
        if (/not found/i.test((err as Error).message)) {
          this.failure = apiError(err, `${this.what}: the pull consumer "${opened.consumerName}" or its stream is gone`);
          return;
        }
        if (got > 0) return;
        // Disconnected, or the server is restarting: try again once the client reconnects.
        await sleep(Math.min(2000, 100 * 2 ** Math.min(attempt++, 5)));
      }
    }
  }

  /** Nak what was fetched and not handed out, so other readers of the durable get it now rather than after ackWait. */
  private giveBack(): void {
    for (const m of this.fetched.splice()) m.nak();
    this.fetching?.stop();
  }

  private decode(bytes: Uint8Array): Tensor {
    if (bytes.length > this.maxMessageBytes) throw tooLargeError(`${this.what}: record`, bytes.length, this.maxMessageBytes);
    return decodeTensor(bytes);
  }

  /** A stored message's tensor: its record, or a manifest's chunks fetched from the stream and joined. */
  private async decodeStored(opened: Opened, m: JsMsg): Promise<Tensor> {
    try {
      const chunks = m.headers?.get(CHUNKS_HEADER);
      if (chunks === undefined || chunks === '') return this.decode(m.data);
      const length = Number(m.headers!.get(LENGTH_HEADER));
      const seqs = chunks.split(',').map(Number);
      if (!Number.isSafeInteger(length) || length <= 0 || seqs.some((s) => !Number.isSafeInteger(s) || s <= 0))
        throw new HarmonicsError('ERR_PROTOCOL', `${this.what}: malformed chunk manifest at stream sequence ${m.seq}`);
      if (length > this.maxMessageBytes) throw tooLargeError(`${this.what}: chunked record`, length, this.maxMessageBytes);
      const parts = new Array<Uint8Array>(seqs.length);
      let nextChunk = 0;
      const lane = async (): Promise<void> => {
        while (nextChunk < seqs.length) {
          const i = nextChunk++;
          const seq = seqs[i]!;
          const stored = await retrying(opened.held.nc, () =>
            opened.direct === true ? opened.jsm!.direct.getMessage(this.stream!, { seq }) : opened.jsm!.streams.getMessage(this.stream!, { seq }),
          );
          if (stored === null)
            throw new HarmonicsError(
              'ERR_PROTOCOL',
              `${this.what}: chunk ${i + 1} of ${seqs.length} (stream sequence ${seqs[i]}) of the tensor at sequence ${m.seq} is gone from stream "${this.stream}"; were the stream's limits (max_age, max_bytes) too tight?`,
            );
          parts[i] = stored.data;
        }
      };
      await Promise.all(Array.from({ length: Math.min(CHUNK_CONCURRENCY, seqs.length) }, lane));
      // One copy: the chunks into one buffer of the record's length; the data is then moved, not copied, into alignment.
      const record = new Uint8Array(length);
      let filled = 0;
      for (const part of parts) {
        if (filled + part.length > length)
          throw new HarmonicsError('ERR_PROTOCOL', `${this.what}: the chunks of the tensor at sequence ${m.seq} hold more than its ${length} bytes`);
        record.set(part, filled);
        filled += part.length;
      }
      if (filled !== length)
        throw new HarmonicsError(
          'ERR_TRUNCATED',
          `${this.what}: the chunks of the tensor at sequence ${m.seq} hold ${filled} of its ${length} bytes`,
        );
      return decodeTensorInPlace(record, this.maxMessageBytes);
    } catch (err) {
      // A record that cannot be read will not improve with redelivery: stop the server from handing it out again.
      if (err instanceof HarmonicsError && err.code !== 'ERR_CONNECTION_LOST') {
        m.term(err.message.slice(0, 200));
        this.handled(m.seq);
      }
      throw err instanceof HarmonicsError ? err : apiError(err, `${this.what}: cannot fetch the chunks of the tensor at sequence ${m.seq}`);
    }
  }

  /**
   * Acknowledge the last tensor, give back what was fetched ahead (JetStream),
   * reject waiting `next()` calls with `ERR_CLOSED`, delete an ephemeral
   * consumer, and close the connection if this end opened it. Idempotent.
   * A Producer that reached the end of its stream has let go of all that
   * already (so a program that reads to the end exits), and `next()` keeps
   * resolving `undefined` until `close()`.
   */
  close(): Promise<void> {
    // The last tensor is acknowledged inside releaseAll, once no pull request of ours is left on the server: acked
    // earlier, it frees a max_ack_pending slot that the server could fill through that request as we go.
    return (this.closed ??= (async () => {
      this.closing.abort();
      await this.releaseAll();
    })());
  }

  private releaseAll(): Promise<void> {
    return (this.releasing ??= this.doRelease());
  }

  private async doRelease(): Promise<void> {
    this.closing.abort();
    let opened: Opened;
    try {
      opened = await this.opening;
    } catch {
      return;
    }
    this.giveBack();
    this.wake?.();
    await this.fetchDone?.catch(noop);
    // Our pull requests are gone from the server once it has seen the fetch's unsubscribe: then ack and give back.
    if (opened.consumer !== undefined && !opened.held.nc.isClosed()) await opened.held.nc.flush().catch(noop);
    this.ackLast();
    this.giveBack();
    if (opened.sub !== undefined && !opened.sub.isClosed()) opened.sub.unsubscribe();
    if (opened.consumerName !== undefined && this.options.durable === undefined && !opened.held.nc.isClosed())
      await opened.jsm!.consumers.delete(this.stream!, opened.consumerName).catch(noop);
    await release(opened.held);
  }

  override toString(): string {
    return this.what;
  }
}
