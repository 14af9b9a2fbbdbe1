import type { Socket } from 'node:net';
import type { ChunkSource, FrameDecoder } from '@harmonics/core';

const READ_BYTES = 64 * 1024;
/** A read smaller than this is copied out of the read buffer, which is then reused. */
const SMALL_READ = 16 * 1024;
/** Reads the producer has not needed yet before the socket is paused. */
const HIGH_WATER_READS = 16;
const DONE: IteratorResult<Uint8Array> = { done: true, value: undefined };
const PROGRESS: IteratorResult<Uint8Array> = { done: false, value: new Uint8Array(0) };

/**
 * Reads a client socket through Node's `onread`, choosing the memory each
 * read lands in. Every read goes into the decoder at once (so it always holds
 * all bytes received); while a large record is being received (at once when
 * the stream already delivered as much, else once half of it is here: a
 * header alone never allocates more than the peer has sent),
 * the kernel writes its data straight into the tensor's own buffer, with no
 * userland copy. Otherwise reads land in a 64 KiB buffer that the decoder
 * keeps, or, for a read under 16 KiB, that is copied out and reused, so memory
 * stays proportional to the bytes received. The producer pulls "progress"
 * signals, one per read.
 *
 * Usage: pass `onread` to `net.connect`, then `attach()` the socket and
 * `bind()` the decoder of the producer that pulls from it.
 */
export class OnreadSource implements ChunkSource {
  private decoder: FrameDecoder | undefined;
  private socket: Socket | undefined;
  private direct: Uint8Array | undefined;
  /** The 64 KiB read buffer, reused after small reads (a peer trickling bytes must not cost 64 KiB a byte). */
  private readBuffer: Uint8Array | undefined;
  private signals = 0;
  private ended = false;
  private failure: Error | undefined;
  private paused = false;
  private waiter: { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (e: Error) => void } | undefined;

  /** The `onread` option for `net.connect`. */
  readonly onread = {
    buffer: (): Uint8Array => {
      const d = this.decoder;
      if (d !== undefined) {
        d.prepare();
        this.direct = d.directTarget();
      }
      if (this.direct !== undefined) return this.direct;
      this.readBuffer ??= new Uint8Array(READ_BYTES);
      return this.readBuffer;
    },
    callback: (n: number, buf: Uint8Array): boolean => {
      if (buf === this.direct) {
        this.direct = undefined;
        this.decoder!.commitDirect(n);
      } else if (n < SMALL_READ) {
        this.decoder!.push(buf.slice(0, n)); // a copy of the few bytes; the buffer is read into again
      } else {
        this.readBuffer = undefined; // the decoder keeps this one
        this.decoder!.push(buf.subarray(0, n));
      }
      this.signals++;
      this.wake();
      if (this.signals >= HIGH_WATER_READS) {
        this.paused = true;
        return false; // Node pauses the socket until resume()
      }
      return true;
    },
  };

  /** Listen for the socket's end and failures. */
  attach(socket: Socket): void {
    this.socket = socket;
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', (err) => {
      this.failure ??= err;
      this.wake();
    });
    socket.on('close', () => {
      if (!this.ended) this.failure ??= new Error('the connection closed before it ended');
      this.wake();
    });
  }

  /** The decoder reads go into. Must be bound before the socket connects. */
  bind(decoder: FrameDecoder): void {
    this.decoder = decoder;
  }

  pullChunk(): Promise<IteratorResult<Uint8Array>> {
    if (this.signals > 0) return Promise.resolve(this.take());
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve(DONE);
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  releaseChunks(): void {
    this.socket?.destroy();
  }

  private take(): IteratorResult<Uint8Array> {
    this.signals--;
    if (this.paused && this.signals < HIGH_WATER_READS / 2) {
      this.paused = false;
      this.socket?.resume();
    }
    return PROGRESS;
  }

  private wake(): void {
    const w = this.waiter;
    if (w === undefined) return;
    if (this.signals > 0) {
      this.waiter = undefined;
      w.resolve(this.take());
    } else if (this.failure) {
      this.waiter = undefined;
      w.reject(this.failure);
    } else if (this.ended) {
      this.waiter = undefined;
      w.resolve(DONE);
    }
  }
}
