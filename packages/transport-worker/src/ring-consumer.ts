import { BaseConsumer, type AbortOptions, DEFAULT_MAX_MESSAGE_BYTES, HarmonicsError, type Tensor } from '@harmonics/core';
import { abortError, checkPositive, checkTensorData, closedError, noop, tooLargeError, writeRecordHeader } from '@harmonics/internal';
import { recordHeaderLength } from '@harmonics/core';
import { type Endpoint, type PeerGone, goneText, listen } from './endpoint.js';
import {
  HEAD,
  READER_CLOSED,
  READER_WAITING,
  STATE,
  TAIL,
  WRITER_ATTACHED,
  WRITER_CLOSED,
  WRITER_WAITING,
  openRing,
  spinFor,
  waitChange,
} from './ring.js';

/** Options of {@link RingConsumer}. */
export interface RingConsumerOptions {
  /** Largest record (header + data) `push()` accepts; larger ones reject `ERR_TOO_LARGE`. Default 256 MiB. */
  maxMessageBytes?: number;
  /**
   * The worker (or port) on the other side, watched for its end: when it
   * exits, fails or its port closes, pushes reject `ERR_CONNECTION_LOST`
   * instead of waiting for room forever. Shared memory itself cannot tell.
   */
  peer?: Endpoint;
}

/**
 * Writes tensors into a ring made by {@link createRing}, as length-prefixed
 * records in the C++ wire format: one copy, into the shared memory. `push()`
 * resolves once the whole record is in the ring; when the ring is full it
 * waits for the reader (without blocking the thread), and a record larger than
 * the ring goes through in pieces as the reader frees room.
 */
export class RingConsumer extends BaseConsumer {
  private readonly control: Int32Array;
  private readonly data: Uint8Array;
  private readonly capacity: number;
  private readonly mask: number;
  private readonly maxMessageBytes: number;
  private readonly scratch = new Uint8Array(8 + 7 + recordHeaderLength(32));
  /** Where the record after the ones being written will start. */
  private nextHead = 0;
  /** The reader's position when last looked at (it only moves forward). */
  private tailSeen = 0;
  private readonly closing = new AbortController();
  private writing: Promise<void> | undefined;
  private closed = false;
  private failure: HarmonicsError | undefined;
  private readonly unwatch: () => void;

  constructor(buffer: SharedArrayBuffer, options: RingConsumerOptions = {}) {
    super();
    checkPositive('maxMessageBytes', options.maxMessageBytes);
    ({ control: this.control, data: this.data, capacity: this.capacity } = openRing(buffer, WRITER_ATTACHED));
    this.mask = this.capacity - 1;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.unwatch = options.peer ? listen(options.peer, noop, this.onGone) : noop;
  }

  private readonly onGone = (gone: PeerGone): void => {
    if (this.closed || this.failure) return;
    this.failure = new HarmonicsError('ERR_CONNECTION_LOST', `${goneText(gone)}; the ring's reader is gone`);
    this.closing.abort();
  };

  push(t: Tensor, options?: AbortOptions): Promise<void> {
    if (this.closed) return Promise.reject(closedError('this RingConsumer'));
    if (this.failure) return Promise.reject(this.failure);
    if (options?.signal?.aborted) return Promise.reject(abortError(options.signal, 'push()'));
    // STATE sits on a cache line of its own that changes only at close: reading it costs next to nothing.
    if ((Atomics.load(this.control, STATE) & READER_CLOSED) !== 0) return Promise.reject(readerClosed());
    let headerEnd: number;
    let head = Atomics.load(this.control, HEAD);
    try {
      const info = checkTensorData(t);
      const headerLength = recordHeaderLength(t.shape.length);
      const record = headerLength + t.data.byteLength;
      if (record > this.maxMessageBytes) throw tooLargeError('tensor record', record, this.maxMessageBytes);
      if (record > 0xffffffff) throw tooLargeError('tensor record', record, 0xffffffff);
      // Pad so that the data lands 8-byte aligned in the ring (when this record
      // starts at `head`): aligned copies into and out of shared memory are
      // several times faster than unaligned ones.
      if (this.writing !== undefined) head = this.nextHead;
      const pad = (8 - ((head + 8 + headerLength) & 7)) & 7;
      const s = this.scratch;
      writeU32(s, 0, record);
      writeU32(s, 4, pad);
      s.fill(0, 8, 8 + pad);
      headerEnd = writeRecordHeader(t, info, s, 8 + pad);
    } catch (err) {
      return Promise.reject(err);
    }
    const body = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const total = headerEnd + body.length;
    // The fast path: no write in progress and room for the whole record.
    this.nextHead = (head + total) | 0;
    if (this.writing === undefined) {
      // The reader's position is looked up only when the one seen last leaves too little room.
      if (this.capacity - ((head - this.tailSeen) >>> 0) < total) this.refreshTail();
      if (this.capacity - ((head - this.tailSeen) >>> 0) >= total) {
        let at = this.copyIn(this.scratch, 0, headerEnd, head);
        at = this.copyIn(body, 0, body.length, at);
        this.publish(at);
        return Promise.resolve();
      }
    }
    // Copy the header: the scratch is reused by the next push.
    const parts = [this.scratch.slice(0, headerEnd), body];
    const run = (): Promise<void> => this.write(parts, options?.signal);
    const p = (this.writing ?? Promise.resolve()).then(run, run);
    const tracked: Promise<void> = p.then(noop, noop).then(() => {
      if (this.writing === tracked) this.writing = undefined;
    });
    this.writing = tracked;
    return p;
  }

  /** Copy `src[from, to)` into the ring at byte position `pos` (mod 2^32), wrapping; returns the position after it. */
  private copyIn(src: Uint8Array, from: number, to: number, pos: number): number {
    const n = to - from;
    if (n === 0) return pos;
    const at = pos & this.mask;
    const first = Math.min(n, this.capacity - at);
    if (first === n && from === 0 && to === src.length) this.data.set(src, at);
    else this.data.set(src.subarray(from, from + first), at);
    if (first < n) this.data.set(src.subarray(from + first, to), 0);
    return (pos + n) | 0;
  }

  private refreshTail(): void {
    this.tailSeen = Atomics.load(this.control, TAIL);
  }

  private publish(head: number): void {
    Atomics.store(this.control, HEAD, head);
    if (Atomics.load(this.control, READER_WAITING) !== 0) Atomics.notify(this.control, HEAD);
  }

  /**
   * Write the parts of one record, waiting for room as often as needed. An
   * abort is honoured only before the first byte is in the ring: after that
   * the record is finished, or the stream would be cut mid-record.
   */
  private async write(parts: Uint8Array[], signal: AbortSignal | undefined): Promise<void> {
    let started = false;
    for (const src of parts) {
      let done = 0;
      while (done < src.length) {
        if (this.failure) throw this.failure;
        if ((Atomics.load(this.control, STATE) & READER_CLOSED) !== 0) throw readerClosed();
        if (!started && signal?.aborted) throw abortError(signal, 'push()');
        const head = Atomics.load(this.control, HEAD);
        const tail = Atomics.load(this.control, TAIL);
        this.tailSeen = tail;
        const free = this.capacity - ((head - tail) >>> 0);
        if (free > 0) {
          const n = Math.min(free, src.length - done);
          this.publish(this.copyIn(src, done, done + n, head));
          done += n;
          started = true;
          continue;
        }
        if (spinFor(this.control, TAIL, tail)) continue;
        Atomics.store(this.control, WRITER_WAITING, 1);
        if (Atomics.load(this.control, TAIL) === tail) await waitChange(this.control, TAIL, tail, this.closing.signal);
        Atomics.store(this.control, WRITER_WAITING, 0);
      }
    }
  }

  /**
   * Wait for the record being written, then mark the end of the stream: the
   * reader returns what is in the ring, then `undefined`.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.writing) await this.writing;
    this.unwatch();
    Atomics.or(this.control, STATE, WRITER_CLOSED);
    Atomics.notify(this.control, HEAD);
  }
}

function writeU32(out: Uint8Array, at: number, v: number): void {
  out[at] = v & 0xff;
  out[at + 1] = (v >>> 8) & 0xff;
  out[at + 2] = (v >>> 16) & 0xff;
  out[at + 3] = (v >>> 24) & 0xff;
}

function readerClosed(): HarmonicsError {
  return new HarmonicsError('ERR_CLOSED', "the ring's reader (RingProducer) closed; nothing more can be sent through it");
}
