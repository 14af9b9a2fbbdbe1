import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TransportPair, runTransportSuite } from '@harmonics/conformance';
import type { Consumer, Producer } from '@harmonics/core';
import { makeConsumer, makeProducer } from '@harmonics/url';

// The transport suite over pairs built only from target strings: one side
// listens (`?listen`, port 0), the other connects. Limits go in the query.
const limit = (maxMessageBytes: number | undefined, sep: '?' | '&') => (maxMessageBytes ? `${sep}maxMessageBytes=${maxMessageBytes}` : '');

async function pairOf(
  listener: (onListening: (a: { port?: number }) => void) => Promise<Producer | Consumer>,
  client: (port: number) => Promise<Producer | Consumer>,
): Promise<TransportPair> {
  let port = 0;
  const a = await listener((addr) => (port = addr.port ?? 0));
  const b = await client(port);
  const producer = ('next' in a ? a : b) as Producer;
  const consumer = ('push' in a ? a : b) as Consumer;
  return {
    producer,
    consumer,
    teardown: async () => {
      await consumer.close().catch(() => undefined);
      await producer.close();
    },
  };
}

runTransportSuite({
  name: 'makeConsumer("tcp:…") → makeProducer("tcp:…?listen")',
  setup: async ({ maxMessageBytes } = {}) =>
    pairOf(
      (onListening) => makeProducer(`tcp:127.0.0.1:0?listen${limit(maxMessageBytes, '&')}`, { onListening }),
      (port) => makeConsumer(`tcp://127.0.0.1:${port}${limit(maxMessageBytes, '?')}`),
    ),
});

let n = 0;
runTransportSuite({
  name: 'makeConsumer("unix:…?listen") → makeProducer("unix:…")',
  setup: async ({ maxMessageBytes } = {}) => {
    const path = join(tmpdir(), `harmonics-url-${process.pid}-${n++}.sock`);
    return pairOf(
      () => makeConsumer(`unix:${path}?listen${limit(maxMessageBytes, '&')}`),
      () => makeProducer(`unix:${path}${limit(maxMessageBytes, '?')}`),
    );
  },
});

/**
 * A listening grpc: or flight: target runs a broker with its default queue
 * (64 MiB); with the consumer's highWaterMark, the HTTP/2 windows both ways
 * and what the reading client has taken off the connection, a writer whose
 * reader stops is held back within this.
 */
const BROKER_BUFFERED = 192 * 1024 * 1024;

runTransportSuite({
  name: 'makeConsumer("grpc:…") → makeProducer("grpc:…?listen")',
  setup: async ({ maxMessageBytes } = {}) =>
    pairOf(
      (onListening) => makeProducer(`grpc:127.0.0.1:0?listen&closeTimeoutMs=0${limit(maxMessageBytes, '&')}`, { onListening }),
      (port) => makeConsumer(`grpc://127.0.0.1:${port}${limit(maxMessageBytes, '?')}`),
    ),
  capabilities: { backpressure: { maxBufferedBytes: BROKER_BUFFERED } },
});

runTransportSuite({
  name: 'makeConsumer("ws://…") → makeProducer("ws://…?listen")',
  setup: async ({ maxMessageBytes } = {}) =>
    pairOf(
      (onListening) => makeProducer(`ws://127.0.0.1:0/suite?listen${limit(maxMessageBytes, '&')}`, { onListening }),
      (port) => makeConsumer(`ws://127.0.0.1:${port}/suite${limit(maxMessageBytes, '?')}`),
    ),
});

runTransportSuite({
  name: 'makeConsumer("flight:…") → makeProducer("flight:…?listen")',
  setup: async ({ maxMessageBytes } = {}) =>
    pairOf(
      (onListening) => makeProducer(`flight:127.0.0.1:0/suite?listen&closeTimeoutMs=0${limit(maxMessageBytes, '&')}`, { onListening }),
      (port) => makeConsumer(`flight://127.0.0.1:${port}/suite${limit(maxMessageBytes, '?')}`),
    ),
  capabilities: { backpressure: { maxBufferedBytes: BROKER_BUFFERED } },
});
