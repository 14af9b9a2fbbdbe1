import { HarmonicsError, type Target, type Transport, type TransportOptions } from '@harmonics/core';
import { DeferredConsumer, DeferredProducer, type ParamKind, applyParams } from '@harmonics/internal';
import { type ClientConsumerOptions, type ClientProducerOptions, TcpConsumer, TcpProducer, UnixConsumer, UnixProducer } from './clients.js';
import { SocketConsumer } from './socket-consumer.js';
import { SocketProducer } from './socket-producer.js';
import { SocketServer, type SocketServerOptions } from './socket-server.js';

const PRODUCER_PARAMS: Record<string, ParamKind> = {
  maxMessageBytes: 'integer',
  timeoutMs: 'number',
  connectTimeoutMs: 'number',
  keepAliveMs: 'number',
  idleTimeoutMs: 'number',
  listen: 'flag',
  endMarker: 'flag',
};
const CONSUMER_PARAMS: Record<string, ParamKind> = {
  maxMessageBytes: 'integer',
  highWaterMark: 'integer',
  endMarker: 'flag',
  noDelay: 'flag',
  connectTimeoutMs: 'number',
  keepAliveMs: 'number',
  idleTimeoutMs: 'number',
  listen: 'flag',
  closeTimeoutMs: 'number',
};

interface Listen {
  listen?: boolean;
  onListening?: OnListening;
  /** A listening consumer's `close()` waits this long (default 5 s) for a peer that has not connected yet, so it sees a clean end. */
  closeTimeoutMs?: number;
}

/** Called with the bound address when a `?listen` target is listening (read the port picked for port 0). */
export type OnListening = (address: { port?: number; path?: string }) => void;

/**
 * `tcp:HOST:PORT`, `unix:PATH` and `socket:FD` for `@harmonics/url`.
 * Clients by default; with `?listen` the target is bound instead and the first
 * peer to connect becomes the stream (the listener closes with it). A
 * listening consumer closed before its peer came waits up to `closeTimeoutMs`
 * (default 5 s) for it, so the peer still sees a clean end.
 */
export const netTransport: Transport = {
  name: '@harmonics/transport-net',
  schemes: ['tcp', 'unix', 'socket'],

  async producer(target: Target, options: TransportOptions) {
    const o = applyParams<ClientProducerOptions & Listen>(target, options, PRODUCER_PARAMS);
    if (target.scheme === 'socket') return new SocketProducer(fdOf(target, o), o);
    if (o.listen === true) {
      const server = await listen(target, o);
      return new DeferredProducer(
        (signal) => server.acceptProducer({ ...o, signal }),
        () => server.close(),
        target.href,
      );
    }
    return target.scheme === 'unix' ? new UnixProducer(target.path!, o) : new TcpProducer(target.host!, target.port!, o);
  },

  async consumer(target: Target, options: TransportOptions) {
    const o = applyParams<ClientConsumerOptions & Listen>(target, options, CONSUMER_PARAMS);
    if (target.scheme === 'socket') return new SocketConsumer(fdOf(target, o), o);
    if (o.listen === true) {
      const server = await listen(target, o);
      return new DeferredConsumer(
        (signal) => server.acceptConsumer({ ...o, signal }),
        () => server.close(),
        target.href,
        o.closeTimeoutMs ?? 5000,
      );
    }
    return target.scheme === 'unix' ? new UnixConsumer(target.path!, o) : new TcpConsumer(target.host!, target.port!, o);
  },
};

function fdOf(target: Target, o: Listen): number {
  if (o.listen === true)
    throw new HarmonicsError('ERR_INVALID_ARGUMENT', `${target.href}: a socket:FD target is already connected; ?listen does not apply`);
  return target.fd!;
}

async function listen(target: Target, o: (ClientProducerOptions | ClientConsumerOptions) & Listen): Promise<SocketServer> {
  const where = target.scheme === 'unix' ? { path: target.path } : { host: target.host, port: target.port, path: undefined };
  const server = await SocketServer.listen({ ...o, tls: o.tls as SocketServerOptions['tls'], ...where });
  o.onListening?.({ port: server.port, path: server.path });
  return server;
}
