import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runClientLivenessCases, runServerLimitCases, runTransportSuite } from '@harmonics/conformance';
import type { Consumer, Producer } from '@harmonics/core';
import { FlightConsumer, FlightProducer, TensorFlightServer } from '@harmonics/transport-flight';

const TLS_KEY = readFileSync(join(__dirname, 'fixtures/key.pem'));
const TLS_CERT = readFileSync(join(__dirname, 'fixtures/cert.pem'));

/** The writing client vanishes: its DoPut call is reset (RST_STREAM), as when its process dies. */
function vanish(consumer: FlightConsumer): () => Promise<void> {
  return async () => {
    (consumer as unknown as { impl: { call: { stream: { cancel(): void } } } }).impl.call.stream.cancel();
  };
}

async function teardown(server: TensorFlightServer, ...sides: (Producer | Consumer)[]): Promise<void> {
  for (const side of sides) await side.close().catch(() => undefined);
  await server.close({ timeoutMs: 0 });
}

/**
 * The server's queue is kept small here so that the backpressure case moves
 * little data; what may be buffered with nobody reading is the queue, the
 * consumer's highWaterMark (8 MiB) and the HTTP/2 windows (16 MiB each way).
 */
const QUEUE = 8 * 1024 * 1024;
const BUFFERED = 96 * 1024 * 1024;
/**
 * With batchRows 64 the writer is held back only after about 104 MiB of
 * 64 KiB tensors (measured 2026-12-01; 48 MiB unbatched): bounded, but where
 * the extra half sits between the batches and the server is not yet pinned
 * down (see the #15 note).
 */
const BUFFERED_BATCHED = 128 * 1024 * 1024;

runTransportSuite({
  name: 'FlightConsumer → TensorFlightServer.listen() → FlightProducer',
  setup: async ({ maxMessageBytes } = {}) => {
    const server = await TensorFlightServer.listen({ maxMessageBytes, maxQueuedBytes: QUEUE });
    const consumer = new FlightConsumer('127.0.0.1', server.port!, { maxMessageBytes });
    const producer = new FlightProducer('127.0.0.1', server.port!, { maxMessageBytes });
    return { producer, consumer, disconnect: vanish(consumer), teardown: () => teardown(server, producer, consumer) };
  },
  capabilities: { peerLoss: true, peerLossCodes: ['ERR_CONNECTION_LOST'], backpressure: { maxBufferedBytes: BUFFERED } },
});

runTransportSuite({
  name: 'FlightConsumer (batchRows 64) → TensorFlightServer.listen() → FlightProducer',
  setup: async ({ maxMessageBytes } = {}) => {
    const server = await TensorFlightServer.listen({ maxMessageBytes, maxQueuedBytes: QUEUE });
    const consumer = new FlightConsumer('127.0.0.1', server.port!, { maxMessageBytes, batchRows: 64, stream: 'batched' });
    const producer = new FlightProducer('127.0.0.1', server.port!, { maxMessageBytes, stream: 'batched' });
    return { producer, consumer, disconnect: vanish(consumer), teardown: () => teardown(server, producer, consumer) };
  },
  capabilities: { peerLoss: true, peerLossCodes: ['ERR_CONNECTION_LOST'], backpressure: { maxBufferedBytes: BUFFERED_BATCHED } },
});

runTransportSuite({
  name: 'FlightConsumer(server) → FlightProducer(server) (in memory)',
  setup: async ({ maxMessageBytes } = {}) => {
    const server = new TensorFlightServer({ maxMessageBytes, maxQueuedBytes: QUEUE });
    const consumer = new FlightConsumer(server);
    const producer = new FlightProducer(server);
    return { producer, consumer, teardown: () => teardown(server, producer, consumer) };
  },
});

runServerLimitCases('TensorFlightServer', {
  listen: (limits) => TensorFlightServer.listen(limits),
  consumer: (port) => new FlightConsumer('127.0.0.1', port),
  read: (server) => server.getTensor(),
  listenTls: (limits) => TensorFlightServer.listen({ ...limits, tls: { key: TLS_KEY, cert: TLS_CERT } }),
});

runClientLivenessCases('FlightProducer / FlightConsumer', {
  producer: (port, options) => new FlightProducer('127.0.0.1', port, options),
  consumer: (port, options) => new FlightConsumer('127.0.0.1', port, options),
  server: async () => {
    const server = await TensorFlightServer.listen();
    return { port: server.port!, send: (t) => server.putTensor(t), close: () => server.close({ timeoutMs: 0 }) };
  },
  fastLiveness: { keepAliveMs: 500, keepAliveTimeoutMs: 500 },
});
