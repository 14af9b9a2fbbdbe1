import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { encodeTensor, tensor } from '@harmonics/core';
import { type TransportPair, runClientLivenessCases, runTransportSuite } from '@harmonics/conformance';
import { SocketServer, TcpConsumer, TcpProducer, UnixConsumer, UnixProducer } from '@harmonics/transport-net';
import { TLS_CERT, TLS_KEY } from './helpers';

/** The writer dies after half a record: raw bytes, then a reset. */
function vanish(socket: Socket): () => Promise<void> {
  return async () => {
    socket.write(encodeTensor(tensor('float32', [64]), { lengthPrefix: true }).subarray(0, 40));
    await new Promise((r) => setTimeout(r, 20));
    // A TCP reset where the handle supports one; Unix and TLS sockets can only be torn down.
    try {
      socket.resetAndDestroy();
    } catch {
      socket.destroy();
    }
  };
}

/**
 * A connected pair through `server`: `client` is the client-side end; the
 * server-side end is accepted as the other half. The writing side is the one
 * that can vanish.
 */
async function pair(
  server: SocketServer,
  client: TcpConsumer | UnixConsumer | TcpProducer | UnixProducer,
  maxMessageBytes: number | undefined,
): Promise<TransportPair> {
  const clientWrites = client instanceof TcpConsumer || client instanceof UnixConsumer;
  const producer = clientWrites ? await server.acceptProducer({ maxMessageBytes }) : (client as TcpProducer | UnixProducer);
  const consumer = clientWrites ? (client as TcpConsumer | UnixConsumer) : await server.acceptConsumer({ maxMessageBytes });
  return {
    producer,
    consumer,
    disconnect: vanish(consumer.socket as Socket),
    teardown: () => server.close({ closeConnections: true }),
  };
}

runTransportSuite({
  name: 'TcpConsumer → SocketServer (TCP)',
  setup: async ({ maxMessageBytes } = {}) => {
    const server = await SocketServer.listen({ port: 0 });
    return pair(server, new TcpConsumer('127.0.0.1', server.port!, { maxMessageBytes }), maxMessageBytes);
  },
  capabilities: { peerLoss: true, peerLossCodes: ['ERR_CONNECTION_LOST'] },
});

let n = 0;
runTransportSuite({
  name: 'UnixConsumer → SocketServer (Unix socket)',
  setup: async ({ maxMessageBytes } = {}) => {
    const path = join(tmpdir(), `harmonics-net-${process.pid}-${n++}.sock`);
    const server = await SocketServer.listen({ path });
    return pair(server, new UnixConsumer(path, { maxMessageBytes }), maxMessageBytes);
  },
  capabilities: { peerLoss: true, peerLossCodes: ['ERR_CONNECTION_LOST'] },
});

runTransportSuite({
  name: 'TcpConsumer → SocketServer (TLS)',
  setup: async ({ maxMessageBytes } = {}) => {
    const server = await SocketServer.listen({ port: 0, tls: { key: TLS_KEY, cert: TLS_CERT } });
    const consumer = new TcpConsumer('127.0.0.1', server.port!, { maxMessageBytes, tls: { ca: TLS_CERT } });
    return pair(server, consumer, maxMessageBytes);
  },
  capabilities: { peerLoss: true, peerLossCodes: ['ERR_CONNECTION_LOST'] },
});

runTransportSuite({
  name: 'SocketServer → TcpProducer (client reads via onread)',
  setup: async ({ maxMessageBytes } = {}) => {
    const server = await SocketServer.listen({ port: 0 });
    return pair(server, new TcpProducer('127.0.0.1', server.port!, { maxMessageBytes }), maxMessageBytes);
  },
  capabilities: { peerLoss: true, peerLossCodes: ['ERR_CONNECTION_LOST'] },
});

runTransportSuite({
  name: 'SocketServer → UnixProducer (client reads via onread)',
  setup: async ({ maxMessageBytes } = {}) => {
    const path = join(tmpdir(), `harmonics-net-rev-${process.pid}-${n++}.sock`);
    const server = await SocketServer.listen({ path });
    return pair(server, new UnixProducer(path, { maxMessageBytes }), maxMessageBytes);
  },
  capabilities: { peerLoss: true, peerLossCodes: ['ERR_CONNECTION_LOST'] },
});

/** A SocketServer whose first connection receives what `send` is given. */
async function sendingServer(options: Parameters<typeof SocketServer.listen>[0] = {}) {
  const server = await SocketServer.listen(options);
  let out: Promise<import('@harmonics/core').Consumer> | undefined;
  return {
    port: server.port!,
    send: async (t: import('@harmonics/core').Tensor) => (await (out ??= server.acceptConsumer())).push(t),
    close: () => server.close({ closeConnections: true }),
  };
}

runClientLivenessCases('TcpProducer / TcpConsumer', {
  producer: (port, options) => new TcpProducer('127.0.0.1', port, options),
  consumer: (port, options) => new TcpConsumer('127.0.0.1', port, options),
  server: () => sendingServer(),
  fastLiveness: { idleTimeoutMs: 1000 },
  handshake: false,
});

runClientLivenessCases('TcpProducer / TcpConsumer over TLS', {
  producer: (port, options) => new TcpProducer('127.0.0.1', port, { ...options, tls: { ca: TLS_CERT, servername: 'localhost' } }),
  consumer: (port, options) => new TcpConsumer('127.0.0.1', port, { ...options, tls: { ca: TLS_CERT, servername: 'localhost' } }),
  server: () => sendingServer({ tls: { key: TLS_KEY, cert: TLS_CERT } }),
  fastLiveness: { idleTimeoutMs: 1000 },
});
