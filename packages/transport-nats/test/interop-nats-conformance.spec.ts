// The shared conformance suite against a real nats-server (started here): a
// plain subject, a JetStream stream through an ephemeral consumer, and a
// durable work-queue consumer.
import { type NatsServer, runTransportSuite, startNatsServer } from '@harmonics/conformance';
import { NatsConsumer, NatsProducer } from '@harmonics/transport-nats';

let server: NatsServer;
let n = 0;

beforeAll(async () => {
  server = await startNatsServer();
}, 30_000);
afterAll(() => server?.stop());

runTransportSuite({
  name: 'NatsConsumer → plain subject → NatsProducer',
  setup: async ({ maxMessageBytes } = {}) => {
    const subject = `plain.t${++n}`;
    const producer = new NatsProducer(`${server.url}/${subject}`, { maxMessageBytes });
    await producer.ready;
    const consumer = new NatsConsumer(`${server.url}/${subject}`, { maxMessageBytes });
    return { producer, consumer };
  },
  capabilities: {
    // The writer and the reader never meet: each talks to the server, so a vanished writer is a quiet one (see the fault tests).
    peerLoss: false,
    // Plain subjects carry one message per tensor, at most max_payload (1 MiB); JetStream chunks.
    largeTensors: false,
    // At-most-once: the server forwards, it does not hold the writer back for a slow reader.
    backpressure: false,
  },
});

runTransportSuite({
  name: 'NatsConsumer → JetStream stream → NatsProducer (ephemeral consumer)',
  setup: async ({ maxMessageBytes } = {}) => {
    const stream = `S${++n}`;
    const consumer = new NatsConsumer(`${server.url}/js.${stream}?stream=${stream}&createStream`, { maxMessageBytes });
    const producer = new NatsProducer(`${server.url}/js.${stream}?stream=${stream}&createStream`, { maxMessageBytes });
    return { producer, consumer };
  },
  capabilities: {
    peerLoss: false,
    // The stream stores what is published: a writer is never held back by a reader (bounded by the stream's limits instead).
    backpressure: false,
  },
});

runTransportSuite({
  name: 'NatsConsumer → JetStream stream → NatsProducer (durable work queue)',
  setup: async ({ maxMessageBytes } = {}) => {
    const stream = `W${++n}`;
    const consumer = new NatsConsumer(`${server.url}/wq.${stream}?stream=${stream}&createStream`, { maxMessageBytes });
    const producer = new NatsProducer(`${server.url}/wq.${stream}?stream=${stream}&createStream&durable=workers&prefetch=4`, { maxMessageBytes });
    return { producer, consumer };
  },
  capabilities: { peerLoss: false, backpressure: false },
});

runTransportSuite({
  name: 'NatsConsumer → JetStream → NatsProducer, a server of its own per test (the server is the peer that vanishes)',
  setup: async ({ maxMessageBytes } = {}) => {
    const own = await startNatsServer();
    // Give up reconnecting after about a second, so a lost server is reported quickly.
    const connectOptions = { maxReconnectAttempts: 2, reconnectTimeWait: 300 };
    const consumer = new NatsConsumer(`${own.url}/lost?stream=LOST&createStream`, { maxMessageBytes, connectOptions });
    const producer = new NatsProducer(`${own.url}/lost?stream=LOST&createStream`, { maxMessageBytes, connectOptions });
    return { producer, consumer, disconnect: () => own.kill(), teardown: () => own.stop() };
  },
  capabilities: { peerLoss: true, peerLossCodes: ['ERR_CONNECTION_LOST'], backpressure: false },
});
