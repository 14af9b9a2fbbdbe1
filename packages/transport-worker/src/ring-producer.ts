import { BaseProducer, type AbortOptions, DEFAULT_MAX_MESSAGE_BYTES, HarmonicsError, type Tensor } from '@harmonics/core';
import {
  type RecordHeader,
  abortError,
  allocRecordData,
  checkPositive,
  closedError,
  noop,
  parseRecordHeader,
  tooLargeError,
} from '@harmonics/internal';
import { type Endpoint, type PeerGone, goneText, listen } from './endpoint.js';
import {
  HEAD,
  READER_ATTACHED,
  READER_CLOSED,
  READER_WAITING,
  STATE,
  TAIL,
  WRITER_CLOSED,
  WRITER_WAITING,
  openRing,
  spinFor,
  waitChange,
} from './ring.js';

/** Options of {@link RingProducer}. */
export interface RingProducerOptions {
  /** Largest record (header + data) accepted; a larger one makes `next()` reject `ERR_TOO_LARGE`. Default 256 MiB. */
  maxMessageBytes?: number;
  /**
   * The worker (or port) on the other side, watched for its end: when it
   * exits, fails or its port closes before the writer closed the ring,
   * `next()` returns what is in the ring, then rejects `ERR_CONNECTION_LOST`.
   */
  peer?: Endpoint;
}

/** A record being copied out of the ring in pieces (one larger than what the ring holds at once). */
interface Partial {
  header: RecordHeader;
  bytes: Uint8Array;
  data: Tensor['data'];
  filled: number;
}

const MAX_HEADER = 5 + 4 * 32 + 4;

/**
 * Reads the tensors a {@link RingConsumer} writes into a ring made by
 * {@link createRing}. Each record is decoded where it lies in the shared
 * memory (no intermediate buffer) and its data copied once into memory of the
 * tensor's own, so a returned tensor stays valid after the ring moves on.
 * Waiting never blocks the thread (`Atomics.waitAsync`).
 */
export class RingProducer extends BaseProducer {
  private readonly control: Int32Array;
  private readonly ring: Uint8Array;
  private readonly capacity: number;
  private readonly mask: number;
  private readonly maxMessageBytes: number;
  private readonly headerScratch = new Uint8Array(MAX_HEADER);
  private readonly closing = new AbortController();
  private partial: Partial | undefined;
  /** TAIL: moved by this side only. */
  private tail = 0;
  /** HEAD when last looked at. */
  private headSeen = 0;
  private closed = false;
  private failure: HarmonicsError | undefined;
  private lost: HarmonicsError | undefined;
  private readonly unwatch: () => void;

  constructor(buffer: SharedArrayBuffer, options: RingProducerOptions = {}) {
    super();
    checkPositive('maxMessageBytes', options.maxMessageBytes);
    ({ control: this.control, data: this.ring, capacity: this.capacity } = openRing(buffer, READER_ATTACHED));
    this.mask = this.capacity - 1;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.unwatch = options.peer ? listen(options.peer, noop, this.onGone) : noop;
  }

  private readonly onGone = (gone: PeerGone): void => {
    if (this.closed || this.lost) return;
    this.lost = new HarmonicsError('ERR_CONNECTION_LOST', `${goneText(gone)} before the ring's writer closed it`);
    this.closing.abort();
  };

  /** Read byte `pos` (mod 2^32) of the ring. */
  private byteAt(pos: number): number {
    return this.ring[pos & this.mask]!;
  }

  /** The u32 (little-endian) at ring position `pos`. */
  private u32At(pos: number): number {
    return (this.byteAt(pos) | (this.byteAt(pos + 1) << 8) | (this.byteAt(pos + 2) << 16) | (this.byteAt(pos + 3) << 24)) >>> 0;
  }

  /** Copy `n` bytes at ring position `pos` into `out[at…]`, wrapping. */
  private copyOut(pos: number, n: number, out: Uint8Array, at: number): void {
    if (n === 0) return;
    const start = pos & this.mask;
    const first = Math.min(n, this.capacity - start);
    out.set(this.ring.subarray(start, start + first), at);
    if (first < n) out.set(this.ring.subarray(0, n - first), at + first);
  }

  private refreshHead(): number {
    this.headSeen = Atomics.load(this.control, HEAD);
    return (this.headSeen - this.tail) >>> 0;
  }

  private advance(tail: number): void {
    this.tail = tail;
    Atomics.store(this.control, TAIL, tail);
    if (Atomics.load(this.control, WRITER_WAITING) !== 0) Atomics.notify(this.control, TAIL);
  }

  /**
   * Take what the ring holds toward the next tensor: the tensor when it is
   * complete, else `undefined` (after copying out what there is of a large one).
   * @throws HarmonicsError on a corrupt record.
   */
  private step(): Tensor | undefined {
    // Only this side moves TAIL; HEAD is looked up only when what was seen of it is used up.
    let tail = this.tail;
    let avail = (this.headSeen - tail) >>> 0;
    if (avail < 8 || this.partial !== undefined) avail = this.refreshHead();
    if (this.partial === undefined) {
      if (avail < 8) return undefined;
      const length = this.u32At(tail);
      const pad = this.u32At(tail + 4);
      if (avail < 8 + pad + length) avail = this.refreshHead();
      if (length > this.maxMessageBytes) throw tooLargeError(`record in the ring`, length, this.maxMessageBytes);
      if (pad > 7) throw corrupt(`its padding is ${pad} bytes; at most 7 are written`);
      const skip = 8 + pad;
      if (avail < skip) return undefined;
      const headerBytes = Math.min(avail - skip, MAX_HEADER, length);
      // The header, where it lies when it does not wrap, else through a small scratch.
      const hStart = (tail + skip) & this.mask;
      let source = this.ring;
      let offset = hStart;
      if (hStart + headerBytes > this.capacity) {
        this.copyOut(tail + skip, headerBytes, this.headerScratch, 0);
        source = this.headerScratch;
        offset = 0;
      }
      const parsed = parseRecordHeader(source, offset, offset + headerBytes, this.maxMessageBytes, 0);
      if (typeof parsed === 'number') {
        if (parsed > length) throw corrupt(`its length prefix says ${length} bytes, shorter than its own header`);
        return undefined;
      }
      if (parsed.headerLength + parsed.byteLength !== length) {
        throw corrupt(`its length prefix says ${length} bytes but its header describes ${parsed.headerLength + parsed.byteLength}`);
      }
      const { bytes, data } = allocRecordData(parsed);
      tail = (tail + skip + parsed.headerLength) | 0;
      avail -= skip + parsed.headerLength;
      if (avail >= parsed.byteLength) {
        this.copyOut(tail, parsed.byteLength, bytes, 0);
        this.advance((tail + parsed.byteLength) | 0);
        return finish(parsed, data);
      }
      this.partial = { header: parsed, bytes, data, filled: 0 };
    }
    const p = this.partial;
    const n = Math.min(avail, p.bytes.length - p.filled);
    this.copyOut(tail, n, p.bytes, p.filled);
    p.filled += n;
    this.advance((tail + n) | 0);
    if (p.filled < p.bytes.length) return undefined;
    this.partial = undefined;
    return finish(p.header, p.data);
  }

  protected override readReady(): Tensor | undefined {
    if (this.closed || this.failure) return undefined;
    try {
      return this.step();
    } catch (err) {
      this.failure = err as HarmonicsError; // read() reports it
      return undefined;
    }
  }

  protected async read(options?: AbortOptions): Promise<Tensor | undefined> {
    const signal = options?.signal;
    for (;;) {
      if (this.closed) throw closedError('this RingProducer');
      if (signal?.aborted) throw abortError(signal, 'next()');
      if (this.failure) throw this.failure;
      const head = Atomics.load(this.control, HEAD);
      let t: Tensor | undefined;
      try {
        t = this.step();
      } catch (err) {
        this.failure = err as HarmonicsError;
        throw err;
      }
      if (t !== undefined) return t;
      if (Atomics.load(this.control, HEAD) !== head) continue;
      if ((Atomics.load(this.control, STATE) & WRITER_CLOSED) !== 0) {
        if ((Atomics.load(this.control, HEAD) - Atomics.load(this.control, TAIL)) >>> 0 !== 0) continue;
        if (this.partial) throw new HarmonicsError('ERR_TRUNCATED', "the ring's writer closed in the middle of a record");
        this.unwatch(); // a clean end: the peer's thread ending now is no loss
        return undefined;
      }
      if (this.lost) throw this.lost;
      if (spinFor(this.control, HEAD, head)) continue;
      Atomics.store(this.control, READER_WAITING, 1);
      if (Atomics.load(this.control, HEAD) === head) await this.waitOrAbort(head, signal);
      Atomics.store(this.control, READER_WAITING, 0);
    }
  }

  private waitOrAbort(head: number, signal: AbortSignal | undefined): Promise<void> {
    if (signal === undefined) return waitChange(this.control, HEAD, head, this.closing.signal);
    const both = new AbortController();
    const onAbort = (): void => both.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    this.closing.signal.addEventListener('abort', onAbort, { once: true });
    return waitChange(this.control, HEAD, head, both.signal).finally(() => {
      signal.removeEventListener('abort', onAbort);
      this.closing.signal.removeEventListener('abort', onAbort);
    });
  }

  /** Stop reading: pending `next()` calls reject `ERR_CLOSED`; the writer's pushes reject `ERR_CLOSED`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unwatch();
    Atomics.or(this.control, STATE, READER_CLOSED);
    Atomics.notify(this.control, TAIL);
    this.closing.abort();
  }
}

function finish(header: RecordHeader, data: Tensor['data']): Tensor {
  if (header.dtype.name === 'bool') {
    const b = data as Uint8Array;
    for (let i = 0; i < b.length; i++)
      if (b[i]! > 1) throw new HarmonicsError('ERR_BAD_DTYPE', `bool element ${i} is ${b[i]}; only 0 and 1 are valid`);
  }
  return { dtype: header.dtype.name, shape: header.shape, data } as Tensor;
}

function corrupt(what: string): HarmonicsError {
  return new HarmonicsError(
    'ERR_PROTOCOL',
    `corrupt record in the ring: ${what}; was the SharedArrayBuffer written by something other than a RingConsumer?`,
  );
}
