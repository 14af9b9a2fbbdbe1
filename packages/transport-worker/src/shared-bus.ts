import { type Tensor } from '@harmonics/core';
import { Ring, closedError, invalidArgument, noop } from '@harmonics/internal';
import { type Endpoint } from './endpoint.js';
import { PortConsumer } from './port-consumer.js';
import { PortProducer } from './port-producer.js';

/** Options of {@link SharedBus}. */
export interface SharedBusOptions {
  /** Most tensors queued in the bus at once; writers wait while it is full. Default 1024. */
  capacity?: number;
  /** Credit window the bus grants each writer (bytes in flight from one writer), as PortProducer's `windowBytes`. Default 4 MiB. */
  writerWindowBytes?: number;
  /** The channel's name on the ports. Default `'harmonics'`. */
  channel?: string;
}

type Take = (t: Tensor | undefined) => void;

/** The `MessageChannel` constructor of the runtime (browsers, workers, Node ≥ 15). */
function newChannel(): { port1: Endpoint; port2: Endpoint & object } {
  const MC = (globalThis as unknown as { MessageChannel?: new () => { port1: Endpoint; port2: Endpoint & object } }).MessageChannel;
  if (MC === undefined) throw invalidArgument('SharedBus needs MessageChannel, which this runtime lacks');
  return new MC();
}

/**
 * The C++ `MessageBus` across workers: many writers and many readers in any
 * threads, each tensor delivered to exactly one reader, first in first out
 * per writer, with an optional capacity.
 *
 * The bus lives in the thread that creates it, which relays: each writer and
 * each reader is one end of a `MessageChannel` whose other end the bus holds.
 * Hand `writerPort()` to a thread and wrap it in a {@link PortConsumer} there;
 * hand `readerPort()` and wrap it in a {@link PortProducer}. Tensors are
 * transferred on both hops, so the relay copies nothing. A reader takes
 * tensors as its credit window allows (`windowBytes` of its PortProducer):
 * keep it small (say 64 KiB) to spread work evenly over readers, larger for
 * throughput.
 *
 * Ending: {@link end} waits for every writer to close, then readers drain
 * what is queued and get `undefined`; {@link close} ends at once.
 *
 * A reader that closes or whose thread ends loses nothing the bus still
 * held: a tensor on its way to it goes back to the front of the queue. What
 * was already posted to it is its own.
 */
export class SharedBus {
  readonly capacity: number;
  private readonly writerWindow: number;
  private readonly channel: string;
  private readonly queue = new Ring<Tensor>();
  private readonly takers = new Ring<Take>();
  private readonly returned: Tensor[] = [];
  private readonly roomWaiters = new Ring<() => void>();
  private readonly writers = new Set<PortProducer>();
  private readonly readers = new Set<PortConsumer>();
  private ending = false;
  private closed = false;
  private endPromise: Promise<void> | undefined;
  private resolveEnd: (() => void) | undefined;
  private receivedCount = 0;
  private deliveredCount = 0;

  constructor(options: SharedBusOptions = {}) {
    const capacity = options.capacity ?? 1024;
    if (!(capacity >= 1)) throw invalidArgument(`SharedBus capacity must be at least 1, got ${capacity}`);
    this.capacity = capacity;
    this.writerWindow = options.writerWindowBytes ?? 4 * 1024 * 1024;
    this.channel = options.channel ?? 'harmonics';
  }

  /** Tensors the bus has taken in from writers. */
  get received(): number {
    return this.receivedCount;
  }

  /** Tensors the bus has posted to readers. */
  get delivered(): number {
    return this.deliveredCount;
  }

  /** Tensors queued in the bus now. */
  get size(): number {
    return this.queue.length + this.returned.length;
  }

  /**
   * A new writer's end: post it to a worker (in the transfer list) and wrap it
   * in a {@link PortConsumer} there.
   */
  writerPort(): Endpoint {
    if (this.ending || this.closed) throw closedError('this SharedBus');
    const { port1, port2 } = newChannel();
    const producer = new PortProducer(port1, { windowBytes: this.writerWindow, channel: this.channel });
    this.writers.add(producer);
    void this.pumpIn(producer);
    return port2;
  }

  /** A new reader's end: post it to a worker and wrap it in a {@link PortProducer} there. */
  readerPort(): Endpoint {
    if (this.closed && this.size === 0) throw closedError('this SharedBus');
    const { port1, port2 } = newChannel();
    const consumer = new PortConsumer(port1, { channel: this.channel });
    this.readers.add(consumer);
    void this.pumpOut(consumer);
    return port2;
  }

  /** A writer in this thread (a PortConsumer on a new writer port). */
  consumer(): PortConsumer {
    return new PortConsumer(this.writerPort(), { channel: this.channel });
  }

  /** A reader in this thread (a PortProducer on a new reader port). */
  producer(options: { windowBytes?: number } = {}): PortProducer {
    return new PortProducer(this.readerPort(), { ...options, channel: this.channel });
  }

  private async pumpIn(producer: PortProducer): Promise<void> {
    try {
      for (;;) {
        const t = await producer.next();
        if (t === undefined) break;
        while (this.queue.length >= this.capacity && !this.closed) await new Promise<void>((r) => this.roomWaiters.push(r));
        if (this.closed) break;
        this.receivedCount++;
        const take = this.takers.shift();
        if (take) take(t);
        else this.queue.push(t);
      }
    } catch {
      // A writer whose thread died: what it sent before is kept; the bus goes on.
    } finally {
      this.writers.delete(producer);
      await producer.close().catch(noop);
      this.checkEnd();
    }
  }

  /** A tensor a reader was about to get when it went away: first in line again. */
  private giveBack(t: Tensor): void {
    const take = this.takers.shift();
    if (take) take(t);
    else this.returned.push(t);
  }

  private take(): Promise<Tensor | undefined> | Tensor | undefined {
    if (this.returned.length > 0) return this.returned.shift();
    const t = this.queue.shift();
    if (t !== undefined) {
      this.roomWaiters.shift()?.();
      return t;
    }
    if (this.closed) return undefined;
    return new Promise<Tensor | undefined>((r) => this.takers.push(r));
  }

  private async pumpOut(consumer: PortConsumer): Promise<void> {
    try {
      for (;;) {
        await consumer.whenWritable();
        const t = await this.take();
        if (t === undefined) break;
        try {
          await consumer.push(t);
        } catch (err) {
          this.giveBack(t); // the reader left while this tensor was on its way to it: another reader gets it
          throw err;
        }
        this.deliveredCount++;
      }
    } catch {
      // A reader that closed or died: what was posted to it is its own.
    } finally {
      this.readers.delete(consumer);
      await consumer.close().catch(noop);
    }
  }

  private checkEnd(): void {
    if (this.ending && this.writers.size === 0) this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    for (let w = this.roomWaiters.shift(); w !== undefined; w = this.roomWaiters.shift()) w();
    // Readers drain the queue first: takers wait only when it is empty.
    for (let take = this.takers.shift(); take !== undefined; take = this.takers.shift()) take(undefined);
    this.resolveEnd?.();
  }

  /**
   * Take no new writers, wait until every writer has closed (its last tensor
   * is in the bus), then end: readers get what is queued, then `undefined`.
   */
  end(): Promise<void> {
    if (this.endPromise) return this.endPromise;
    this.ending = true;
    this.endPromise = new Promise<void>((r) => (this.resolveEnd = r));
    this.checkEnd();
    return this.endPromise;
  }

  /**
   * End now: writers still connected are closed (their pushes reject
   * `ERR_CLOSED`); readers get what is queued, then `undefined`.
   */
  async close(): Promise<void> {
    this.ending = true;
    this.finish();
    await Promise.all([...this.writers].map((w) => w.close()));
  }
}
