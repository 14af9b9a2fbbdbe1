// Browser entry (the `browser` export condition): NATS over WebSocket with
// `wsconnect` of @nats-io/nats-core. No Node built-ins.
import { wsconnect } from '@nats-io/nats-core';
import type { Transport } from '@harmonics/core';
import { NatsConsumerBase } from './consumer.js';
import type { NatsConsumerOptions, NatsProducerOptions } from './options.js';
import { NatsProducerBase } from './producer.js';
import { natsTransportFor } from './url-transport.js';

export * from './common.js';

/**
 * {@link NatsConsumerBase} connecting over WebSocket (`wsconnect`): the
 * server needs a `websocket` listener. `new NatsConsumer('ws://host:8080/tensors?stream=T')`,
 * or a subject with `{ servers: 'wss://host' }`.
 */
export class NatsConsumer extends NatsConsumerBase {
  constructor(target: string, options: NatsConsumerOptions = {}) {
    super(target, options, wsconnect);
  }
}

/** {@link NatsProducerBase} connecting over WebSocket (`wsconnect`). */
export class NatsProducer extends NatsProducerBase {
  constructor(target: string, options: NatsProducerOptions = {}) {
    super(target, options, wsconnect);
  }
}

/** `nats://` targets for `@harmonics/url` in a browser: the host and port are the server's WebSocket listener. */
export const natsTransport: Transport = natsTransportFor({
  connectScheme: 'ws',
  producer: (url, options) => new NatsProducer(url, options),
  consumer: (url, options) => new NatsConsumer(url, options),
});
