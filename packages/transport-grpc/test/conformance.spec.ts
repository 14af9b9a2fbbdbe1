import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runClientLivenessCases, runServerLimitCases, runTransportSuite } from '@harmonics/conformance';
import type { Consumer, Producer } from '@harmonics/core';
import { GrpcConsumer, GrpcProducer, GrpcServer } from '@harmonics/transport-grpc';

const TLS_KEY = readFileSync(join(__dirname, 'fixtures/key.pem'));
const TLS_CERT = readFileSync(join(__dirname, 'fixtures/cert.pem'));

/** The writing client vanishes: its PushTensor call is reset (RST_STREAM), as when its process dies. */
function vanish(consumer: GrpcConsumer): () => Promise<void> {
  return async () => {
    (consumer as unknown as { call: { stream: { cancel(): void } } }).call.stream.cancel();
  };
}

/**
 * The server's queue is kept small here so that the backpressure case moves
 * little data; what may be buffered with nobody reading is the queue, the
 * consumer's highWaterMark (8 MiB) and the HTTP/2 windows (16 MiB each way).
 */
const QUEUE = 8 * 1024 * 1024;
const BUFFERED = 96 * 1024 * 1024;

async function teardown(server: GrpcServer, ...sides: (Producer | Consumer)[]): Promise<void> {
  for (const side of sides) await side.close().catch(() => undefined);
  await server.close({ timeoutMs: 0 });
}

runTransportSuite({
  name: 'GrpcConsumer → GrpcServer → GrpcProducer',
  setup: async ({ maxMessageBytes } = {}) => {
    const server = await GrpcServer.listen({ maxMessageBytes, maxQueuedBytes: QUEUE });
    const consumer = new GrpcConsumer('127.0.0.1', server.port, { maxMessageBytes });
    const producer = new GrpcProducer('127.0.0.1', server.port, { maxMessageBytes });
    return { producer, consumer, disconnect: vanish(consumer), teardown: () => teardown(server, producer, consumer) };
  },
  capabilities: { peerLoss: true, peerLossCodes: ['ERR_CONNECTION_LOST'], backpressure: { maxBufferedBytes: BUFFERED } },
});

runTransportSuite({
  name: 'GrpcConsumer → GrpcServer.producer() (local view)',
  setup: async ({ maxMessageBytes } = {}) => {
    const server = await GrpcServer.listen({ maxMessageBytes, maxQueuedBytes: QUEUE });
    const consumer = new GrpcConsumer('127.0.0.1', server.port, { maxMessageBytes });
    const producer = server.producer();
    return { producer, consumer, disconnect: vanish(consumer), teardown: () => teardown(server, producer, consumer) };
  },
  capabilities: { peerLoss: true, peerLossCodes: ['ERR_CONNECTION_LOST'], backpressure: { maxBufferedBytes: BUFFERED } },
});

runTransportSuite({
  name: 'GrpcServer.consumer() (local view) → GrpcProducer',
  setup: async ({ maxMessageBytes } = {}) => {
    const server = await GrpcServer.listen({ maxMessageBytes, maxQueuedBytes: QUEUE });
    const consumer = server.consumer();
    const producer = new GrpcProducer('127.0.0.1', server.port, { maxMessageBytes });
    return { producer, consumer, teardown: () => teardown(server, producer, consumer) };
  },
  // Local pushes queue by reference, like the bus: the tensor is encoded when a PopTensor call takes it.
  capabilities: { ownership: 'reference', backpressure: { maxBufferedBytes: BUFFERED } },
});

runServerLimitCases('GrpcServer', {
  listen: (limits) => GrpcServer.listen({ ...limits, endWithLastWriter: false }),
  consumer: (port) => new GrpcConsumer('127.0.0.1', port),
  read: (server) => server.producer().next(),
  listenTls: (limits) => GrpcServer.listen({ ...limits, tls: { key: TLS_KEY, cert: TLS_CERT } }),
});

runClientLivenessCases('GrpcProducer / GrpcConsumer', {
  producer: (port, options) => new GrpcProducer('127.0.0.1', port, options),
  consumer: (port, options) => new GrpcConsumer('127.0.0.1', port, options),
  server: async () => {
    const server = await GrpcServer.listen({ endWithLastWriter: false });
    return { port: server.port, send: (t) => server.push(t), close: () => server.close({ timeoutMs: 0 }) };
  },
  fastLiveness: { keepAliveMs: 500, keepAliveTimeoutMs: 500 },
});
