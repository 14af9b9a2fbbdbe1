import type { ClientReadableStream, StatusObject } from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import { type AbortOptions, BaseProducer, HarmonicsError, type Tensor } from '@harmonics/core';
import { abortError, closedError } from '@harmonics/internal';
import { BatchDecoder, receiveLayout } from './arrow.js';
import { type ClientSettings, type FlightClientOptions, checkStream, makeClient, watchConnect } from './client.js';
import { CONTINUES_KEY, callError, withErrorCode } from './errors.js';
import { parseFlightData } from './flight-data.js';
import { encodeTicket, encodeUtf8 } from './proto.js';
import type { TensorFlightServer } from './server.js';
import { methodPath } from './service.js';
import type { StreamReader, TensorStream } from './stream.js';
import type { LocalFlightOptions } from './consumer.js';
import { waitFor } from './wait.js';

/** Options of a {@link FlightProducer} over the network. */
export interface FlightProducerOptions extends FlightClientOptions {
  /**
   * The DoGet ticket. Default: the stream name's UTF-8 bytes, which is what
   * a {@link TensorFlightServer}'s FlightInfo endpoints carry. For other
   * servers, take it from their FlightInfo (see `getFlightInfo`).
   */
  ticket?: string | Uint8Array;
  /** The column to read. Default: the first `arrow.fixed_shape_tensor` column. */
  column?: string;
}

interface GetCall {
  stream: ClientReadableStream<Buffer>;
  ended: boolean;
  continues: boolean;
  error: unknown;
}

interface ProducerImpl {
  /** A tensor, undefined at the end, or null when nothing is there yet. Throws what went wrong. */
  poll(): Tensor | undefined | null;
  /** Resolves when poll() may have something new. */
  wait(signal: AbortSignal | undefined, what: string): Promise<void>;
  close(): void;
}

const identity = (b: Buffer): Buffer => b;

/**
 * Reads tensors from an Arrow Flight stream: `DoGet` with a ticket (by
 * default the stream name), each row of the `arrow.fixed_shape_tensor` column
 * one tensor (record batches of several rows are split; tensors are views of
 * the received message where aligned). `permutation` in the extension
 * metadata is applied, so tensors arrive in their logical row-major layout.
 * When our server's stream changes schema it ends the DoGet with a
 * `harmonics-continues` trailer and this producer follows on with a new
 * DoGet; any other end of the call is the end of the stream.
 *
 * `new FlightProducer(server, { stream })` reads from an in-memory
 * {@link TensorFlightServer} without the network.
 */
export class FlightProducer extends BaseProducer {
  private readonly impl: ProducerImpl;
  private closed = false;

  constructor(server: TensorFlightServer, options?: LocalFlightOptions);
  constructor(host: string, port: number, options?: FlightProducerOptions);
  constructor(a: string | TensorFlightServer, b?: number | LocalFlightOptions, c?: FlightProducerOptions) {
    super();
    this.impl = typeof a === 'string' ? new NetworkProducer(a, b as number, c ?? {}) : new LocalProducer(a, (b as LocalFlightOptions) ?? {});
  }

  protected override readReady(): Tensor | undefined {
    if (this.closed) return undefined;
    try {
      return this.impl.poll() ?? undefined;
    } catch {
      return undefined; // read() reports it
    }
  }

  protected async read(options?: AbortOptions): Promise<Tensor | undefined> {
    const signal = options?.signal;
    while (true) {
      if (this.closed) throw closedError('FlightProducer');
      if (signal?.aborted) throw abortError(signal, 'FlightProducer.next()');
      const got = this.impl.poll();
      if (got !== null) return got;
      await this.impl.wait(signal, 'FlightProducer.next()');
    }
  }

  /** Stop reading (a DoGet in progress is cancelled; tensors in flight to it are dropped). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.impl.close();
  }
}

class LocalProducer implements ProducerImpl {
  private readonly stream: TensorStream;
  private readonly reader: StreamReader;
  private wake: (() => void) | undefined;

  constructor(server: TensorFlightServer, options: LocalFlightOptions) {
    this.stream = server.stream(checkStream(options.stream));
    this.reader = this.stream.newReader();
  }

  poll(): Tensor | undefined | null {
    return this.stream.poll(this.reader);
  }

  wait(signal: AbortSignal | undefined, what: string): Promise<void> {
    return waitFor(
      (wake) => {
        this.wake = wake;
        const cancel = this.stream.onItem(wake);
        return () => {
          cancel();
          this.wake = undefined;
        };
      },
      signal,
      what,
    );
  }

  /** Wakes a waiting next(), which then reports ERR_CLOSED. */
  close(): void {
    this.wake?.();
  }
}

class NetworkProducer implements ProducerImpl {
  private readonly s: ClientSettings;
  private readonly ticket: Uint8Array;
  private readonly column: string | undefined;
  private call: GetCall | undefined;
  private decoder: BatchDecoder | undefined;
  private ready: Tensor[] = [];
  private next = 0;
  private failure: HarmonicsError | undefined;
  private finished = false;
  private closed = false;
  private established = false;
  private wake: (() => void) | undefined;
  private readonly stopConnectWatch: () => void;

  constructor(host: string, port: number, options: FlightProducerOptions) {
    this.s = makeClient(host, port, options);
    const t = options.ticket;
    this.ticket = t === undefined ? encodeUtf8(this.s.stream) : typeof t === 'string' ? encodeUtf8(t) : t;
    this.column = options.column;
    this.open();
    this.stopConnectWatch = watchConnect(this.s, (err) => {
      if (this.closed) return;
      this.failure ??= err;
      this.call?.stream.cancel();
      this.notify();
    });
  }

  private open(): void {
    this.decoder = undefined;
    this.s.metadata().then(
      (md) => {
        if (this.closed) return;
        const stream = this.s.client.makeServerStreamRequest<Buffer, Buffer>(
          methodPath('DoGet'),
          identity,
          identity,
          encodeTicket(this.ticket),
          md,
          {},
        );
        const c: GetCall = { stream, ended: false, continues: false, error: undefined };
        this.call = c;
        stream.on('metadata', () => {
          this.established = true;
        });
        stream.on('readable', this.notify);
        stream.on('error', () => undefined); // reported through 'status'
        stream.on('status', (st: StatusObject) => {
          if (st.code === Status.OK) {
            c.ended = true;
            c.continues = st.metadata.get(CONTINUES_KEY)[0] === '1';
          } else c.error = withErrorCode(st);
          this.notify();
        });
      },
      (err: unknown) => {
        this.failure = err instanceof HarmonicsError ? err : new HarmonicsError('ERR_HANDSHAKE', String(err), { cause: err });
        this.notify();
      },
    );
  }

  private readonly notify = (): void => {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  };

  poll(): Tensor | undefined | null {
    if (this.next < this.ready.length) {
      const t = this.ready[this.next];
      this.ready[this.next++] = undefined as unknown as Tensor;
      return t;
    }
    if (this.failure !== undefined) throw this.failure;
    if (this.finished) return undefined;
    const c = this.call;
    if (c === undefined) return null;
    while (true) {
      const msg = c.stream.read() as Buffer | null;
      if (msg === null) break;
      try {
        const fd = parseFlightData(msg);
        if (fd.header.length === 0) continue; // app_metadata only
        if (this.decoder === undefined) {
          this.decoder = new BatchDecoder(receiveLayout(fd.header, this.column), this.s.maxMessageBytes);
          continue;
        }
        const tensors = this.decoder.decode(fd.header, fd.body);
        if (tensors.length === 0) continue;
        this.ready = tensors;
        this.next = 1;
        return tensors[0];
      } catch (err) {
        this.failure = err instanceof HarmonicsError ? err : new HarmonicsError('ERR_PROTOCOL', String(err), { cause: err });
        c.stream.cancel();
        throw this.failure;
      }
    }
    if (c.ended) {
      if (c.continues) {
        this.call = undefined;
        this.open();
        return null;
      }
      this.finished = true;
      return undefined;
    }
    if (c.error !== undefined) {
      this.failure = callError(c.error, 'DoGet', this.s.target, this.established);
      throw this.failure;
    }
    return null;
  }

  wait(signal: AbortSignal | undefined, what: string): Promise<void> {
    return waitFor(
      (wake) => {
        this.wake = wake;
        return () => {
          if (this.wake === wake) this.wake = undefined;
        };
      },
      signal,
      what,
    );
  }

  close(): void {
    this.closed = true;
    this.stopConnectWatch();
    this.call?.stream.cancel();
    this.call = undefined;
    this.s.client.close();
    this.notify();
  }
}
