import type { AbortOptions, Tensor } from '@harmonics/core';
import { raceSignals } from '@harmonics/internal';
import { type ConnectOptions, type Connecting, startConnect } from './connect.js';
import { type Endpoint, describeEndpoint } from './errors.js';
import { SocketConsumer, type SocketConsumerOptions } from './socket-consumer.js';
import { OnreadSource } from './onread-source.js';
import { SocketProducer, type SocketProducerOptions } from './socket-producer.js';

/** Options of the connecting producers. */
export interface ClientProducerOptions extends SocketProducerOptions, ConnectOptions {}
/** Options of the connecting consumers. */
export interface ClientConsumerOptions extends SocketConsumerOptions, ConnectOptions {}

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

  constructor(endpoint: Endpoint, options: ClientConsumerOptions) {
    const connecting = startConnect(endpoint, options);
    super(connecting.socket, options);
    this.connecting = connecting;
    this.endpoint = endpoint;
  }

  /** Resolves once connected; rejects `ERR_CONNECT` / `ERR_HANDSHAKE`. */
  get connected(): Promise<void> {
    return this.connecting.connected;
  }

  override push(t: Tensor, options?: AbortOptions): Promise<void> {
    if (this.connecting.isConnected()) return super.push(t, options);
    return raceSignals(this.connecting.connected, options?.signal, 'push()').then(() => super.push(t, options));
  }

  /** Flush and close; a connection that never came up is just released. Idempotent. */
  override async close(): Promise<void> {
    try {
      await this.connecting.connected;
    } catch {
      this.connecting.socket.destroy();
      return;
    }
    return super.close();
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
