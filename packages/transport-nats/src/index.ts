// @harmonics/transport-nats (Node entry): NATS subjects and JetStream streams
// with @nats-io/transport-node. Browsers get ./browser.ts (NATS over
// WebSocket) through the `browser` export condition.
export * from './common.js';
export { NatsConsumer, NatsProducer, natsTransport } from './node.js';
