import { readU32LE } from './bytes.js';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  LENGTH_PREFIX_BYTES,
  type RecordHeader,
  allocRecordData,
  parseRecordHeader,
  recordHeaderLength,
} from './codec.js';
import { HarmonicsError, tooLargeError } from './errors.js';
import { checkBool, MAX_NDIM, type Tensor } from './tensor.js';

/** Options of {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /**
   * `true` (default): each record is preceded by a u32 length prefix, as on
   * sockets. `false`: records follow each other directly, as in files.
   */
  lengthPrefixed?: boolean;
  /** Reject a record (or frame) over this many bytes; default 256 MiB. */
  maxMessageBytes?: number;
  /**
   * Length-prefixed streams between Harmonics peers: the writer ends with an
   * end-of-stream marker (a zero length prefix, see `StreamConsumer`'s
   * `endMarker`), and input that ends without it is `ERR_CONNECTION_LOST`, so
   * a writer killed between two records is not taken for a clean end. Off by
   * default: the C++ library's framing has no marker (and would not read one).
   */
  endMarker?: boolean;
}

// Pending chunks of one record kept by reference before the record is copied
// out; past this many they gather in one growing buffer (or, once the record's
// buffer may be allocated, are copied into it), so a peer trickling tiny
// chunks cannot pile up objects.
const MAX_PENDING_CHUNKS = 64;

// A record's buffer is allocated ahead of its bytes only up to this size or
// up to what the stream has already delivered in earlier records, or else once
// half of its bytes have arrived: a header alone never costs more than the peer
// has sent (17 bytes must not make us allocate 200 MiB), while a stream of
// large tensors still gets each one's buffer at its header (zero-copy receive).
const EAGER_RECORD_BYTES = 1024 * 1024;

/**
 * Turns arbitrary chunks of a record stream into tensors: a small state
 * machine (prefix → header → data) in the manner of ws's receiver.
 *
 * Copies: headers are parsed in place (a few bytes are copied only when a
 * header spans chunks); each record's data is copied once, into a fresh
 * buffer of its own, so it is aligned for its typed array and the returned
 * tensor is a view of that buffer, owned by the caller. Records' data up to
 * 4 KiB is placed in shared 64 KiB slabs (like Node's Buffer pool): such a
 * tensor's `data.buffer` holds other tensors too, so copy the data (`slice()`)
 * before transferring its buffer to a worker. A record's declared size is
 * never allocated on the strength of its header alone: beyond 1 MiB, and
 * beyond what earlier records of the stream amounted to, only once half of its
 * bytes have arrived.
 *
 * Chunks are kept by reference until consumed: a source must not reuse a
 * chunk's memory after pushing it (Node streams and WHATWG streams do not).
 *
 * Usage: `push(chunk)`, then call `read()` until it returns `undefined`; at end
 * of input call `end()`.
 */
export class FrameDecoder {
  readonly maxMessageBytes: number;
  private readonly prefix: number;
  private readonly endMarker: boolean;
  private markerSeen = false;
  private readonly chunks: Uint8Array[] = [];
  private first = 0; // index of the first unread chunk
  private head = 0; // read offset in chunks[first]
  private buffered = 0;
  private position = 0; // stream offset of the next unread byte
  private header: RecordHeader | undefined;
  private recordStart = 0;
  private dest: Uint8Array | undefined;
  private destData: Tensor['data'] | undefined;
  private destFilled = 0;
  /** While a large record trickles in before its buffer may be allocated: the buffer its bytes gather in. */
  private acc: Uint8Array | undefined;
  private failure: HarmonicsError | undefined;
  private received = 0;
  private readonly scratch = new Uint8Array(LENGTH_PREFIX_BYTES + recordHeaderLength(MAX_NDIM));

  constructor(options: FrameDecoderOptions = {}) {
    this.prefix = options.lengthPrefixed === false ? 0 : LENGTH_PREFIX_BYTES;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.endMarker = options.endMarker === true && this.prefix > 0;
  }

  /** Bytes pushed and not yet consumed by a completed record or header. */
  get bufferedBytes(): number {
    return this.buffered + this.destFilled;
  }

  /** True when part of a record has arrived and the rest has not. */
  get inRecord(): boolean {
    return this.header !== undefined || this.buffered > 0;
  }

  /** Stream offset (bytes) where the record now being assembled starts. */
  get pendingRecordOffset(): number {
    return this.header !== undefined ? this.recordStart : this.position;
  }

  /** Total bytes given to the decoder so far (pushed or written directly). */
  get bytesReceived(): number {
    return this.received;
  }

  /** Total bytes consumed into completed records and parsed headers so far. */
  get bytesConsumed(): number {
    return this.position;
  }

  /**
   * For zero-copy receive: the memory where the next bytes of the record now
   * being assembled may be written directly (e.g. by the kernel, through
   * Node's socket `onread`), or `undefined`. Offered only for a record of at
   * least `minBytes` whose header has been parsed, when no queued bytes lie
   * beyond it, and (past 1 MiB and past the bytes of the stream's earlier
   * records) once half of the record has arrived; it
   * allocates the record's buffer (the declared size, already checked against
   * `maxMessageBytes`) and moves queued bytes into it first.
   * After writing, call {@link commitDirect} with the count.
   */
  directTarget(minBytes = 64 * 1024): Uint8Array | undefined {
    const h = this.header;
    if (this.failure || h === undefined || h.byteLength < minBytes) return undefined;
    if (this.dest === undefined) {
      if (!this.mayAllocate(h)) return undefined;
      const { bytes, data } = allocRecordData(h);
      this.dest = bytes;
      this.destData = data;
      this.destFilled = 0;
      this.acc = undefined; // what it holds is copied into the record now; later chunks are queued as usual
    }
    const n = Math.min(h.byteLength - this.destFilled, this.buffered);
    if (n > 0) {
      this.copyOut(this.dest, this.destFilled, n);
      this.destFilled += n;
    }
    if (this.destFilled === h.byteLength || this.buffered > 0) return undefined;
    return this.dest.subarray(this.destFilled);
  }

  /**
   * Parse the next record's header if its bytes are here (never emits a
   * tensor), so {@link directTarget} can offer that record's memory before its
   * data arrives. An error is kept and thrown by the next `read()`.
   */
  prepare(): void {
    if (this.failure || this.header !== undefined || this.buffered === 0) return;
    try {
      this.readHeader();
    } catch (err) {
      this.failure = err as HarmonicsError;
    }
  }

  /** Account for `n` bytes written into the region {@link directTarget} returned. */
  commitDirect(n: number): void {
    this.received += n;
    this.destFilled += n;
    this.position += n;
  }

  /** Queue a chunk. The decoder keeps a reference to it until its bytes are consumed. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.received += chunk.length;
    if (this.acc !== undefined) return this.appendToAccumulator(chunk);
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /**
   * The next complete record as a tensor, or `undefined` when more bytes are needed.
   * @throws HarmonicsError for malformed input (as {@link decodeTensor} does); also
   *   `ERR_TOO_LARGE` for a length prefix over the limit and `ERR_PROTOCOL` for a
   *   prefix that disagrees with its record. After an error the decoder keeps throwing it.
   */
  read(): Tensor | undefined {
    if (this.failure) throw this.failure;
    try {
      if (this.header === undefined && !this.readHeader()) return undefined;
      return this.readData();
    } catch (err) {
      this.failure = err as HarmonicsError;
      throw err;
    }
  }

  /**
   * Declare the end of input.
   * @throws HarmonicsError `ERR_TRUNCATED` naming the record's start offset when the
   *   input ended inside a record; `ERR_CONNECTION_LOST` when `endMarker` is on
   *   and the input ended without the marker.
   */
  end(): void {
    if (this.failure) throw this.failure;
    if (!this.inRecord) {
      if (!this.endMarker || this.markerSeen) return;
      this.failure = new HarmonicsError(
        'ERR_CONNECTION_LOST',
        `input ended at byte ${this.position} without the end-of-stream marker (endMarker): the writer stopped before its close() — killed, crashed or cut off — so tensors may be missing`,
      );
      throw this.failure;
    }
    const at = this.pendingRecordOffset;
    const h = this.header;
    this.failure = new HarmonicsError(
      'ERR_TRUNCATED',
      h !== undefined
        ? `input ended inside the record at byte ${at}: ${h.headerLength + this.bufferedBytes} of its ${h.headerLength + h.byteLength} bytes arrived`
        : `input ended inside the record at byte ${at}: only ${this.buffered} bytes of its header arrived`,
    );
    throw this.failure;
  }

  private readHeader(): boolean {
    const p = this.prefix;
    let need = p + 9;
    for (;;) {
      if (this.buffered === 0) return false;
      if (this.markerSeen) throw new HarmonicsError('ERR_PROTOCOL', `bytes follow the end-of-stream marker at byte ${this.position}`);
      const [bytes, off, end] = this.peek(need);
      let frameLength = 0;
      if (p) {
        if (end - off < p) return false;
        frameLength = readU32LE(bytes, off);
        if (frameLength === 0 && this.endMarker) {
          this.skip(p);
          this.markerSeen = true;
          continue;
        }
        if (frameLength > this.maxMessageBytes) {
          throw tooLargeError(`frame at byte ${this.position}`, frameLength, this.maxMessageBytes);
        }
        if (frameLength < 9) {
          throw new HarmonicsError('ERR_PROTOCOL', `frame at byte ${this.position} declares ${frameLength} bytes, less than the smallest record (9)`);
        }
      }
      const h = parseRecordHeader(bytes, off + p, end, this.maxMessageBytes, this.position + p);
      if (typeof h === 'number') {
        if (this.buffered < p + h) return false;
        need = p + h;
        continue;
      }
      if (p && frameLength !== h.headerLength + h.byteLength) {
        throw new HarmonicsError(
          'ERR_PROTOCOL',
          `frame at byte ${this.position} declares ${frameLength} bytes but holds a record of ${h.headerLength + h.byteLength}`,
        );
      }
      this.recordStart = this.position + p;
      this.skip(p + h.headerLength);
      this.header = h;
      return true;
    }
  }

  private readData(): Tensor | undefined {
    const h = this.header!;
    if (this.dest === undefined) {
      if (this.buffered < h.byteLength) {
        if (this.chunks.length - this.first <= MAX_PENDING_CHUNKS) return undefined;
        if (!this.mayAllocate(h)) {
          if (this.acc === undefined) this.startAccumulating();
          return undefined;
        }
      }
      const { bytes, data } = allocRecordData(h);
      this.dest = bytes;
      this.destData = data;
      this.destFilled = 0;
      this.acc = undefined;
    }
    const want = h.byteLength - this.destFilled;
    const n = Math.min(want, this.buffered);
    if (n > 0) this.copyOut(this.dest, this.destFilled, n);
    this.destFilled += n;
    if (this.destFilled < h.byteLength) return undefined;
    const data = this.destData!;
    if (h.dtype.name === 'bool') checkBool(data as Uint8Array);
    this.header = undefined;
    this.dest = undefined;
    this.destData = undefined;
    this.destFilled = 0;
    return { dtype: h.dtype.name, shape: h.shape, data } as Tensor;
  }

  /** Whether the record's buffer may be allocated now: small, no larger than what came before it, or half of it is here. */
  private mayAllocate(h: RecordHeader): boolean {
    return h.byteLength <= Math.max(EAGER_RECORD_BYTES, this.recordStart) || this.buffered * 2 >= h.byteLength;
  }

  /**
   * Gather the unread chunks into one growing buffer that later chunks are
   * appended to (capacity doubling: each byte is copied a constant number of
   * times on average, and memory stays within twice what arrived), until the
   * record's own buffer may be allocated.
   */
  private startAccumulating(): void {
    const acc = new Uint8Array(Math.max(2 * this.buffered, 64 * 1024));
    let at = 0;
    for (let i = this.first, off = this.head; i < this.chunks.length; i++, off = 0) {
      const c = this.chunks[i];
      acc.set(off === 0 ? c : c.subarray(off), at);
      at += c.length - off;
    }
    this.chunks.length = 0;
    this.chunks.push(acc.subarray(0, at));
    this.first = 0;
    this.head = 0;
    this.acc = acc;
  }

  private appendToAccumulator(chunk: Uint8Array): void {
    let acc = this.acc!;
    const used = this.head + this.buffered; // the unread bytes are acc[head, head + buffered)
    if (used + chunk.length > acc.length) {
      const grown = new Uint8Array(Math.max(2 * this.buffered, this.buffered + chunk.length, 64 * 1024));
      grown.set(acc.subarray(this.head, used));
      acc = this.acc = grown;
      this.head = 0;
    }
    acc.set(chunk, this.head + this.buffered);
    this.buffered += chunk.length;
    this.chunks[this.first] = acc.subarray(0, this.head + this.buffered);
  }

  /** Contiguous view of up to `n` unread bytes: in place when they sit in one chunk, else copied to scratch. */
  private peek(n: number): [Uint8Array, number, number] {
    const c = this.chunks[this.first];
    if (c.length - this.head >= n || this.buffered === c.length - this.head) {
      return [c, this.head, c.length];
    }
    const len = Math.min(n, this.buffered, this.scratch.length);
    let filled = 0;
    for (let i = this.first, off = this.head; filled < len; i++, off = 0) {
      const part = this.chunks[i];
      const take = Math.min(part.length - off, len - filled);
      this.scratch.set(part.subarray(off, off + take), filled);
      filled += take;
    }
    return [this.scratch, 0, len];
  }

  private copyOut(dest: Uint8Array, at: number, n: number): void {
    let done = 0;
    while (done < n) {
      const c = this.chunks[this.first];
      const take = Math.min(c.length - this.head, n - done);
      dest.set(take === c.length && this.head === 0 ? c : c.subarray(this.head, this.head + take), at + done);
      done += take;
      this.advance(take);
    }
  }

  private skip(n: number): void {
    while (n > 0) {
      const c = this.chunks[this.first];
      const take = Math.min(c.length - this.head, n);
      this.advance(take);
      n -= take;
    }
  }

  private advance(n: number): void {
    this.head += n;
    this.buffered -= n;
    this.position += n;
    if (this.head === this.chunks[this.first].length) {
      this.chunks[this.first] = EMPTY;
      this.first++;
      this.head = 0;
      if (this.first === this.chunks.length) {
        this.chunks.length = 0;
        this.first = 0;
      } else if (this.first >= 1024 && this.first * 2 >= this.chunks.length) {
        this.chunks.splice(0, this.first);
        this.first = 0;
      }
    }
  }
}

const EMPTY = /* @__PURE__ */ new Uint8Array(0);
