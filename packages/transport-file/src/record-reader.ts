import type { FileHandle } from 'node:fs/promises';
import { HarmonicsError, type Tensor } from '@harmonics/core';
import { allocRecordData, parseRecordHeader, type RecordHeader } from '@harmonics/internal';

/** `tryRead()` found the end of the file exactly at a record boundary. */
export const END = Symbol('end');
/** `tryRead()` found only part of a record; nothing was consumed. */
export const PARTIAL = Symbol('partial');

const BUFFER_BYTES = 64 * 1024;

/**
 * Reads back-to-back records from an open file with positional reads.
 *
 * Headers and small records come through a 64 KiB read-ahead buffer (one copy
 * out of it per record); a large record's data is read by the kernel straight
 * into the tensor's own buffer. A record is only consumed once whole: a cut
 * record leaves `position` where it starts, so a follower can wait and retry.
 * The declared size is allocated only after the file is known to hold it.
 */
export class RecordReader {
  /** File offset of the next record. */
  position = 0;
  private readonly buf = new Uint8Array(BUFFER_BYTES);
  private bufStart = 0;
  private bufLen = 0;

  constructor(
    private readonly fh: FileHandle,
    private readonly maxMessageBytes: number,
  ) {}

  /** Go back to `offset` (e.g. 0 to loop), dropping the read-ahead. */
  seek(offset: number): void {
    this.position = offset;
    this.bufStart = offset;
    this.bufLen = 0;
  }

  /** Read the record at `position`: the tensor, {@link END} or {@link PARTIAL}. */
  async tryRead(): Promise<Tensor | typeof END | typeof PARTIAL> {
    const start = this.position;
    const h = await this.header(start);
    if (typeof h === 'symbol') return h;
    const total = h.headerLength + h.byteLength;
    const dataStart = start + h.headerLength;
    if (total > BUFFER_BYTES / 2) {
      // Large: make sure the file holds it all before allocating, then read the rest directly.
      const size = (await this.fh.stat()).size;
      if (start + total > size) return PARTIAL;
    } else if ((await this.ensure(start, total)) < total) {
      return PARTIAL;
    }
    const { bytes, data } = allocRecordData(h);
    const bufEnd = this.bufStart + this.bufLen;
    const buffered = Math.max(0, Math.min(bufEnd - dataStart, h.byteLength));
    if (buffered > 0) {
      const from = dataStart - this.bufStart;
      bytes.set(this.buf.subarray(from, from + buffered));
    }
    for (let filled = buffered; filled < h.byteLength;) {
      const { bytesRead } = await this.fh.read(bytes, filled, h.byteLength - filled, dataStart + filled);
      if (bytesRead === 0) return PARTIAL;
      filled += bytesRead;
    }
    this.position = start + total;
    return { dtype: h.dtype.name, shape: h.shape, data } as Tensor;
  }

  /** Count the whole records from `position` on by reading headers only; leaves `position` unchanged. */
  async countRecords(): Promise<number> {
    const size = (await this.fh.stat()).size;
    const saved = this.position;
    let count = 0;
    try {
      for (let at = saved; at < size; count++) {
        const h = await this.header(at);
        if (typeof h === 'symbol') break;
        const next = at + h.headerLength + h.byteLength;
        if (next > size) break;
        at = next;
      }
    } catch (err) {
      // A malformed record ends the count; next() reports it when it gets there.
      if (!(err instanceof HarmonicsError)) throw err;
    }
    this.seek(saved);
    return count;
  }

  private async header(start: number): Promise<RecordHeader | typeof END | typeof PARTIAL> {
    let need = 9;
    for (;;) {
      const avail = await this.ensure(start, need);
      if (avail === 0) return END;
      const from = start - this.bufStart;
      const h = parseRecordHeader(this.buf, from, from + Math.min(avail, need), this.maxMessageBytes, start);
      if (typeof h !== 'number') return h;
      // ensure() read all the file had up to `need`; fewer means the header is cut.
      if (avail < need) return PARTIAL;
      need = h;
    }
  }

  /**
   * Make the buffer hold `[start, start + n)` as far as the file allows.
   * Returns the bytes buffered from `start`: at least `n` unless the file ends
   * sooner (it may be more than `n`).
   */
  private async ensure(start: number, n: number): Promise<number> {
    const bufEnd = this.bufStart + this.bufLen;
    if (start >= this.bufStart && start + n <= bufEnd) return bufEnd - start;
    if (start >= this.bufStart && start < bufEnd) {
      this.buf.copyWithin(0, start - this.bufStart, this.bufLen);
      this.bufLen = bufEnd - start;
    } else {
      this.bufLen = 0;
    }
    this.bufStart = start;
    while (this.bufLen < n) {
      const { bytesRead } = await this.fh.read(this.buf, this.bufLen, BUFFER_BYTES - this.bufLen, start + this.bufLen);
      if (bytesRead === 0) break;
      this.bufLen += bytesRead;
    }
    return this.bufLen;
  }
}
