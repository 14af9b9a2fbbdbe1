import type { AbortOptions, Tensor } from '@harmonics/core';
import { HarmonicsError } from '@harmonics/core';
import { checkPositive, noop, raceSignals } from '@harmonics/internal';
import { type ConnectOptions, type Connecting, startConnect } from './connect.js';
import { type Endpoint, describeEndpoint } from './errors.js';
import { SocketConsumer, type SocketConsumerOptions } from './socket-consumer.js';
import { OnreadSource } from './onread-source.js';
import { SocketProducer, type SocketProducerOptions } from './socket-producer.js';

/** Options of the connecting producers. */
export interface ClientProducerOptions extends SocketProducerOptions, ConnectOptions {}
/** Options of the connecting consumers. */
export interface ClientConsumerOptions extends SocketConsumerOptions, ConnectOptions {
  /**
   * After sending the end of the stream, `close()` waits this long for the
   * reader to close its end too (every Harmonics reader does at once), so a
   * reader that refused the stream (a TLS server sent plaintext, an mTLS
   * server without our certificate) is reported instead of passing for a
   * clean end. A reader that keeps its end open past it is not an error.
   * Default 2000.
   */
  closeTimeoutMs?: number;
}

/** Default {@link ClientConsumerOptions.closeTimeoutMs}. */
export const DEFAULT_CLIENT_CLOSE_TIMEOUT_MS = 2000;

/** A {@link SocketProducer} that connects first; the first `next()` awaits the connection. */
class ConnectingProducer extends SocketProducer {
  private readonly connecting: Connecting;
  readonly endpoint: Endpoint;

  constructor(endpoint: Endpoint, options: ClientProducerOptions) {
    // Plain sockets read through onread (large records land in the tensor's memory); TLS reads via its stream.
    const direct = options.tls ? undefined : new OnreadSource();
    const connecting = startConnect(endpoint, options, direct);
    super(connecting.socket, options, direct);
    this.connecting = connecting;
    this.endpoint = endpoint;
  }

  /** Resolves once connected; rejects `ERR_CONNECT` / `ERR_HANDSHAKE`. */
  get connected(): Promise<void> {
    return this.connecting.connected;
  }

  protected override async read(options?: AbortOptions): Promise<Tensor | undefined> {
    if (!this.connecting.isConnected()) await raceSignals(this.connecting.connected, options?.signal, 'next()');
    return super.read(options);
  }

  override toString(): string {
    return `${this.constructor.name}(${describeEndpoint(this.endpoint)})`;
  }
}

/** A {@link SocketConsumer} that connects first; the first `push()` awaits the connection. */
class ConnectingConsumer extends SocketConsumer {
  private readonly connecting: Connecting;
  readonly endpoint: Endpoint;
  private readonly closeTimeoutMs: number;
  private closingAll: Promise<void> | undefined;
  /** Settles once the reader's end is done: resolved by its FIN or the close, rejected by an error. */
  private readonly peerDone: Promise<void>;

  constructor(endpoint: Endpoint, options: ClientConsumerOptions) {
    checkPositive('closeTimeoutMs', options.closeTimeoutMs, true);
    const connecting = startConnect(endpoint, options);
    super(connecting.socket, options);
    this.connecting = connecting;
    this.endpoint = endpoint;
    this.closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLIENT_CLOSE_TIMEOUT_MS;
    const socket = connecting.socket;
    this.peerDone = new Promise<void>((resolve, reject) => {
      socket.once('end', () => resolve());
      socket.once('close', () => resolve());
      socket.once('error', (err) => reject(this.sinkError(err)));
    });
    this.peerDone.catch(noop);
    // A reader of this protocol never writes back: bytes from the peer mean it is something else.
    socket.on('data', (chunk: Buffer) => {
      const tls = chunk[0] === 0x15 && chunk[1] === 0x03 ? ' It answered with a TLS alert: the server speaks TLS, connect with { tls }.' : '';
      const err = new HarmonicsError(
        'ERR_PROTOCOL',
        `${describeEndpoint(endpoint)} sent ${chunk.length} byte(s) to a writer; a tensor reader sends nothing, so this is not one.${tls}`,
      );
      this.fail(err);
      socket.destroy(err);
    });
  }

  /** Resolves once connected; rejects `ERR_CONNECT` / `ERR_HANDSHAKE`. */
  get connected(): Promise<void> {
    return this.connecting.connected;
  }

  override push(t: Tensor, options?: AbortOptions): Promise<void> {
    if (this.connecting.isConnected()) return super.push(t, options);
    return raceSignals(this.connecting.connected, options?.signal, 'push()').then(() => super.push(t, options));
  }

  /**
   * Flush, send the end of the stream, and wait up to `closeTimeoutMs` for
   * the reader to close its end; a reader that reset or refused the
   * connection rejects. A connection that never came up is just released.
   * Idempotent.
   */
  override close(): Promise<void> {
    this.closingAll ??= this.closeAndLinger();
    return this.closingAll;
  }

  private async closeAndLinger(): Promise<void> {
    try {
      await this.connecting.connected;
    } catch {
      this.connecting.socket.destroy();
      return;
    }
    await super.close();
    if (this.closeTimeoutMs === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const lingered = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.closeTimeoutMs)));
    try {
      await Promise.race([this.peerDone, lingered]);
    } finally {
      clearTimeout(timer);
      this.connecting.socket.destroy();
    }
  }
}

/**
 * A TCP client that reads tensors (the C++ `TcpProducer`). The constructor
 * starts connecting; the first `next()` awaits the connection and rejects
 * `ERR_CONNECT` (naming the address) if it fails, `ERR_HANDSHAKE` for a TLS
 * verification failure.
 */
export class TcpProducer extends ConnectingProducer {
  constructor(host: string, port: number, options: ClientProducerOptions = {}) {
    super({ host, port }, options);
  }
}

/** A TCP client that writes tensors (the C++ `TcpConsumer`); connection errors as {@link TcpProducer}. */
export class TcpConsumer extends ConnectingConsumer {
  constructor(host: string, port: number, options: ClientConsumerOptions = {}) {
    super({ host, port }, options);
  }
}

/** A Unix-domain-socket client that reads tensors. */
export class UnixProducer extends ConnectingProducer {
  constructor(path: string, options: ClientProducerOptions = {}) {
    super({ path }, options);
  }
}

/** A Unix-domain-socket client that writes tensors. */
export class UnixConsumer extends ConnectingConsumer {
  constructor(path: string, options: ClientConsumerOptions = {}) {
    super({ path }, options);
  }
}
