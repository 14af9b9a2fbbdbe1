import { Socket } from 'node:net';
import type { Duplex, Writable } from 'node:stream';
import { HarmonicsError, StreamConsumer } from '@harmonics/core';
import { lostError } from './errors.js';
import { type LivenessOptions, idleLimit, keepAlive } from './liveness.js';

/** Options of {@link SocketConsumer}. */
export interface SocketConsumerOptions extends LivenessOptions {
  /** Refuse a tensor whose record is over this many bytes, before sending anything: `ERR_TOO_LARGE`. Default 256 MiB. */
  maxMessageBytes?: number;
  /**
   * Disable Nagle's algorithm (default true): small tensors are already
   * coalesced into 64 KiB writes here, so the kernel need not wait to batch.
   */
  noDelay?: boolean;
  /**
   * Bytes handed to the socket and not yet taken by the kernel beyond which
   * `push()` waits (default 1 MiB): a peer that stops reading stops the writer,
   * and the process holds at most this plus one 64 KiB batch and one record.
   */
  highWaterMark?: number;
  /**
   * End with an end-of-stream marker (a zero length prefix) on `close()`, for
   * a Harmonics reader with `endMarker`, which then tells a clean end from a
   * writer killed between two records. Not for C++ readers. Default false.
   */
  endMarker?: boolean;
}

/** A connected socket, any Node writable/duplex stream, or a file descriptor number. */
export type SocketSink = Socket | Duplex | Writable | number;

/**
 * Writes tensors as length-prefixed records (exactly what the C++
 * `SocketConsumer` writes) to a connected socket, any Node duplex, or a file
 * descriptor.
 *
 * Small tensors are copied into 64 KiB batches (one write for many tensors);
 * a large tensor's header and data go out corked into one `writev`, straight
 * from the tensor's memory, and `push()` resolves when the kernel has taken
 * them. A dead peer makes `push()` reject `ERR_CONNECTION_LOST` (at the latest
 * once the kernel reports the reset); it never resolves silently after that.
 * `close()` flushes and half-closes (FIN), so the reader sees a clean end.
 */
export class SocketConsumer extends StreamConsumer {
  /** The underlying stream. */
  readonly socket: Duplex | Writable;
  private closing = false;

  constructor(sink: SocketSink, options: SocketConsumerOptions = {}) {
    const socket = typeof sink === 'number' ? new Socket({ fd: sink, readable: false, writable: true }) : sink;
    super(socket, { maxMessageBytes: options.maxMessageBytes, highWaterMark: options.highWaterMark, endMarker: options.endMarker, zeroCopy: true });
    this.socket = socket;
    if (options.noDelay !== false && typeof (socket as Socket).setNoDelay === 'function') (socket as Socket).setNoDelay(true);
    keepAlive(socket, options.keepAliveMs);
    idleLimit(socket, options.idleTimeoutMs, () => socket.writableLength > 0, 'being written');
    socket.on('error', (err) => this.fail(this.sinkError(err)));
    socket.on('close', () => {
      if (!this.closing) this.fail(lostError(new Error('the peer closed the connection'), 'being written'));
    });
  }

  protected override sinkError(cause: unknown): HarmonicsError {
    return lostError(cause, 'being written');
  }

  override close(): Promise<void> {
    this.closing = true;
    return super.close();
  }
}
