import { runClientLivenessCases, runTransportSuite } from '@harmonics/conformance';
import type { Consumer, Tensor } from '@harmonics/core';
import { type IncomingWebSocket, WebSocketConsumer, WebSocketProducer, WebSocketServer } from '@harmonics/transport-ws';

runTransportSuite({
  name: 'WebSocketConsumer → WebSocketServer (Node, ws)',
  setup: async ({ maxMessageBytes } = {}) => {
    const server = await WebSocketServer.listen({ path: '/tensors', maxMessageBytes });
    const consumer = new WebSocketConsumer('127.0.0.1', server.port, '/tensors', { maxMessageBytes });
    const incoming: IncomingWebSocket = await server.accept();
    const producer = incoming.producer();
    return {
      producer,
      consumer,
      // The writer vanishes: its TCP connection is cut without a close frame.
      disconnect: async () => (consumer as unknown as { adapter: { terminate(): void } }).adapter.terminate(),
      teardown: () => server.close({ closeConnections: true }),
    };
  },
  capabilities: { peerLoss: true, peerLossCodes: ['ERR_CONNECTION_LOST'] },
});

runTransportSuite({
  name: 'WebSocketServer → WebSocketProducer (ws:// URL)',
  setup: async ({ maxMessageBytes } = {}) => {
    const server = await WebSocketServer.listen({ maxMessageBytes });
    const producer = new WebSocketProducer(`ws://127.0.0.1:${server.port}/`, { maxMessageBytes });
    const consumer = await server.acceptConsumer();
    return {
      producer,
      consumer,
      disconnect: async () => (consumer as unknown as { adapter: { terminate(): void } }).adapter.terminate(),
      teardown: () => server.close({ closeConnections: true }),
    };
  },
  capabilities: { peerLoss: true, peerLossCodes: ['ERR_CONNECTION_LOST'] },
});

runClientLivenessCases('WebSocketProducer / WebSocketConsumer (Node)', {
  producer: (port, options) => new WebSocketProducer(`ws://127.0.0.1:${port}/`, options),
  consumer: (port, options) => new WebSocketConsumer(`ws://127.0.0.1:${port}/`, options),
  server: async () => {
    const server = await WebSocketServer.listen();
    let out: Promise<Consumer> | undefined;
    return {
      port: server.port,
      send: async (t: Tensor) => (await (out ??= server.acceptConsumer())).push(t),
      close: () => server.close({ closeConnections: true }),
    };
  },
  fastLiveness: { keepAliveMs: 300, idleTimeoutMs: 1000 },
});
