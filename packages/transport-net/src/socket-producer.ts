import { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { type AbortOptions, HarmonicsError, StreamProducer, type Tensor, isHarmonicsError } from '@harmonics/core';
import { lostError } from './errors.js';
import { type LivenessOptions, idleLimit, keepAlive } from './liveness.js';
import type { OnreadSource } from './onread-source.js';

/** Options of {@link SocketProducer}. */
export interface SocketProducerOptions extends LivenessOptions {
  /** Refuse (and close the connection on) a frame over this many bytes: `ERR_TOO_LARGE`. Default 256 MiB. */
  maxMessageBytes?: number;
  /** A `next()` that waits longer than this for a tensor rejects `ERR_TIMEOUT`; the connection stays usable. Default: no limit. */
  timeoutMs?: number;
  /**
   * Require the writer's end-of-stream marker (a Harmonics `SocketConsumer`
   * with `endMarker`): a connection that ends without it rejects
   * `ERR_CONNECTION_LOST`, so a writer killed between two records is not taken
   * for a clean end. Off by default: the C++ library sends no marker.
   */
  endMarker?: boolean;
}

/** A connected socket, any Node readable/duplex stream, or a file descriptor number. */
export type SocketSource = Socket | Duplex | Readable | number;

/**
 * Reads length-prefixed tensor records from a connected socket (exactly what
 * the C++ `SocketConsumer` writes): a `net.Socket`, a `tls.TLSSocket`, any Node
 * duplex, or a file descriptor (the C++ `socket:FD` target).
 *
 * Each record is assembled with one copy into a buffer where its data is
 * aligned, then handed out as a view. Client producers (`TcpProducer`,
 * `UnixProducer` without TLS) go further: the kernel writes a large record's
 * data straight into the tensor's buffer (Node's `onread`), with no userland copy. A peer that closes cleanly between
 * records ends the stream (`undefined`); one that vanishes mid-record, or a
 * reset, rejects `ERR_CONNECTION_LOST`; an oversized frame rejects
 * `ERR_TOO_LARGE` without allocating it and closes the connection.
 * `close()` closes the connection.
 */
export class SocketProducer extends StreamProducer {
  /** The underlying stream. */
  readonly socket: Duplex | Readable;
  private readonly timeoutMs: number | undefined;

  /** `direct` (internal): read `source` through this `onread` source instead of its 'data' events. */
  constructor(source: SocketSource, options: SocketProducerOptions = {}, direct?: OnreadSource) {
    const socket = typeof source === 'number' ? new Socket({ fd: source, readable: true, writable: false }) : source;
    super(direct ?? socket, { maxMessageBytes: options.maxMessageBytes, endMarker: options.endMarker, endInsideRecord: 'ERR_CONNECTION_LOST' });
    direct?.bind(this.decoder);
    this.socket = socket;
    this.timeoutMs = options.timeoutMs;
    keepAlive(socket, options.keepAliveMs);
    idleLimit(socket, options.idleTimeoutMs, () => true, 'being read');
  }

  protected override async read(options?: AbortOptions): Promise<Tensor | undefined> {
    if (this.timeoutMs === undefined) return super.read(options);
    const timer = AbortSignal.timeout(this.timeoutMs);
    const signal = options?.signal ? AbortSignal.any([options.signal, timer]) : timer;
    try {
      return await super.read({ signal });
    } catch (err) {
      if (isHarmonicsError(err, 'ERR_ABORTED') && timer.aborted && !options?.signal?.aborted) {
        throw new HarmonicsError('ERR_TIMEOUT', `no tensor arrived within timeoutMs (${this.timeoutMs} ms); the connection is still open`);
      }
      throw err;
    }
  }

  protected override sourceError(err: unknown): HarmonicsError {
    return lostError(err, 'being read');
  }
}
