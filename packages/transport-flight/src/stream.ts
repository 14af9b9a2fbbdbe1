// A named stream of a TensorFlightServer: what DoPut calls and local puts feed
// and DoGet calls and local gets drain. A queue by default (each tensor goes
// to one reader, like the C++ library's broker); with `retain`, every reader
// replays it from the start (a dataset).
import { HarmonicsError, type Tensor } from '@harmonics/core';
import { layoutKey } from './arrow.js';

export type StreamState = 'open' | 'ended' | 'failed';

export interface StreamItem {
  readonly tensor: Tensor;
  /** dtype and shape, as `layoutKey` spells them: readers batch equal keys and start a new DoGet on a change. */
  readonly key: string;
}

/** What a queued tensor costs besides its data (its objects), counted in the queue's bytes so that many tiny tensors are bounded too. */
export const TENSOR_OVERHEAD_BYTES = 256;

/**
 * The bytes all queue streams of a server hold together, against a limit:
 * past it, writers of every queue stream wait (an empty queue still takes
 * one tensor, so no reader waits on a writer that waits on the budget).
 */
export class QueueBudget {
  bytes = 0;
  private readonly waiting = new Set<TensorStream>();

  constructor(readonly max: number) {}

  get exhausted(): boolean {
    return this.bytes >= this.max;
  }

  take(n: number): void {
    this.bytes += n;
  }

  release(n: number): void {
    this.bytes -= n;
    if (this.waiting.size > 0 && !this.exhausted) for (const s of [...this.waiting]) s.roomMade();
  }

  wait(s: TensorStream): void {
    this.waiting.add(s);
  }

  unwait(s: TensorStream): void {
    this.waiting.delete(s);
  }
}

/** Where one reader is: for a queue the shared head, for a retained stream its own position. */
export interface StreamReader {
  pos: number;
}

export interface StreamOptions {
  /** Keep every tensor and replay the whole stream to each reader (default false: a queue). */
  retain?: boolean;
}

export class TensorStream {
  private items: StreamItem[] = [];
  /** Index in `items` of the queue's head (queues drop what was taken, in chunks). */
  private head = 0;
  /** What the queue holds, as limits count it: data plus {@link TENSOR_OVERHEAD_BYTES} per tensor. */
  private queuedBytes = 0;
  private dataBytes = 0;
  private readonly itemWaiters = new Set<() => void>();
  private readonly roomWaiters = new Set<() => void>();
  /** Writers without a session (each DoPut of a plain Flight client, local consumers). */
  private writers = 0;
  /** Writers that continue over several DoPuts (ours, with `harmonics-writer`); they end by DoAction. */
  private readonly sessions = new Set<string>();
  state: StreamState = 'open';
  failure: HarmonicsError | undefined;
  /** dtype, shape and key of the last tensor put, for describing a drained stream (not the tensor: its memory is the reader's once taken). */
  last: (Pick<Tensor, 'dtype' | 'shape'> & { key: string }) | undefined;
  /** Tensors ever put (a retained stream's length; a queue's total throughput). */
  total = 0;
  /** A writer has come, or the stream was created on purpose (`createStream`): not one only readers asked for. */
  known = false;

  constructor(
    readonly name: string,
    readonly retain: boolean,
    readonly capacity: number,
    readonly maxQueuedBytes: number,
    private readonly budget: QueueBudget = new QueueBudget(Infinity),
  ) {}

  /** Readers waiting for a tensor now. */
  get waitingReaders(): number {
    return this.itemWaiters.size;
  }

  /** Tensors a new reader would get now. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** The data bytes of the tensors a new reader would get now. */
  get bytes(): number {
    return this.dataBytes;
  }

  /** True while writers should wait (queues only; an empty queue always takes one tensor). */
  get full(): boolean {
    return !this.retain && this.size > 0 && (this.size >= this.capacity || this.queuedBytes >= this.maxQueuedBytes || this.budget.exhausted);
  }

  newReader(): StreamReader {
    return { pos: this.head };
  }

  /** Tensors readable by `r` now. */
  available(r: StreamReader): number {
    if (!this.retain) return this.items.length - this.head;
    return this.items.length - r.pos;
  }

  peek(r: StreamReader, i: number): StreamItem {
    return this.items[(this.retain ? r.pos : this.head) + i];
  }

  /** `r` has taken its next `n` tensors. */
  advance(r: StreamReader, n: number): void {
    if (this.retain) {
      r.pos += n;
      return;
    }
    let freed = 0;
    for (let i = 0; i < n; i++) {
      const data = this.items[this.head + i].tensor.data.byteLength;
      this.dataBytes -= data;
      freed += TENSOR_OVERHEAD_BYTES + data;
      // Taken: drop the reference now, so the tensor's memory can be freed (and reused).
      this.items[this.head + i] = undefined as unknown as StreamItem;
    }
    this.queuedBytes -= freed;
    this.head += n;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (this.roomWaiters.size > 0 && !this.full) this.roomMade();
    this.budget.release(freed);
  }

  /** Wake the writers waiting for room (called when this queue or the server's budget drained). */
  roomMade(): void {
    this.budget.unwait(this);
    this.wake(this.roomWaiters);
  }

  /** Append `t`; `key` is its `layoutKey` when the caller has it (a decoded batch shares one). */
  put(t: Tensor, key = layoutKey(t.dtype, t.shape)): void {
    this.items.push({ tensor: t, key });
    const cost = TENSOR_OVERHEAD_BYTES + t.data.byteLength;
    this.queuedBytes += cost;
    this.dataBytes += t.data.byteLength;
    if (!this.retain) this.budget.take(cost);
    if (this.last?.key !== key) this.last = { dtype: t.dtype, shape: Array.from(t.shape), key };
    this.total++;
    this.wake(this.itemWaiters);
  }

  /**
   * The next tensor for `r` (taken), `undefined` once the stream ended, or
   * `null` while it is open and has nothing for `r`.
   * @throws HarmonicsError the stream's failure, after what was queued.
   */
  poll(r: StreamReader): Tensor | undefined | null {
    if (this.available(r) > 0) {
      const item = this.peek(r, 0);
      this.advance(r, 1);
      return item.tensor;
    }
    if (this.state === 'ended') return undefined;
    if (this.state === 'failed') throw this.failure!;
    return null;
  }

  /** Call `fn` once when a tensor arrives or the state changes. Returns the canceller. */
  onItem(fn: () => void): () => void {
    this.itemWaiters.add(fn);
    return () => this.itemWaiters.delete(fn);
  }

  /** Call `fn` once when a full queue has room again (or the stream ends). Returns the canceller. */
  onRoom(fn: () => void): () => void {
    this.roomWaiters.add(fn);
    this.budget.wait(this);
    return () => {
      this.roomWaiters.delete(fn);
      if (this.roomWaiters.size === 0) this.budget.unwait(this);
    };
  }

  /** A writer arrives; an ended stream opens again for it (a new session of the stream). */
  attach(session?: string): void {
    if (session !== undefined) this.sessions.add(session);
    else this.writers++;
    this.known = true;
    if (this.state === 'ended') {
      this.state = 'open';
      this.failure = undefined;
    }
  }

  /** A writer left cleanly; the stream ends when none is left. */
  detach(session?: string): void {
    if (session !== undefined) this.sessions.delete(session);
    else if (this.writers > 0) this.writers--;
    if (this.writers === 0 && this.sessions.size === 0 && this.state === 'open') this.end();
  }

  /** A writer broke (reset, crash): readers get what is queued, then `failure`. */
  fail(err: HarmonicsError, session?: string): void {
    if (session !== undefined) this.sessions.delete(session);
    else if (this.writers > 0) this.writers--;
    if (this.state !== 'open') return;
    this.state = 'failed';
    this.budget.unwait(this);
    this.failure = err;
    this.wake(this.itemWaiters);
    this.wake(this.roomWaiters);
  }

  end(): void {
    if (this.state !== 'open') return;
    this.state = 'ended';
    this.budget.unwait(this);
    this.wake(this.itemWaiters);
    this.wake(this.roomWaiters);
  }

  private wake(set: Set<() => void>): void {
    if (set.size === 0) return;
    const fns = [...set];
    set.clear();
    for (const fn of fns) fn();
  }
}
