import { connect } from '@nats-io/transport-node';
import type { Transport } from '@harmonics/core';
import { NatsConsumerBase } from './consumer.js';
import type { NatsConsumerOptions, NatsProducerOptions } from './options.js';
import { NatsProducerBase } from './producer.js';
import { natsTransportFor } from './url-transport.js';

/**
 * {@link NatsConsumerBase} connecting with `@nats-io/transport-node` (TCP,
 * TLS): `new NatsConsumer('nats://127.0.0.1:4222/tensors?stream=TENSORS')`.
 */
export class NatsConsumer extends NatsConsumerBase {
  constructor(target: string, options: NatsConsumerOptions = {}) {
    super(target, options, connect);
  }
}

/**
 * {@link NatsProducerBase} connecting with `@nats-io/transport-node`:
 * `new NatsProducer('nats://127.0.0.1:4222/tensors?stream=TENSORS&durable=workers')`.
 */
export class NatsProducer extends NatsProducerBase {
  constructor(target: string, options: NatsProducerOptions = {}) {
    super(target, options, connect);
  }
}

/** `nats://` targets for `@harmonics/url`. */
export const natsTransport: Transport = natsTransportFor({
  connectScheme: 'nats',
  producer: (url, options) => new NatsProducer(url, options),
  consumer: (url, options) => new NatsConsumer(url, options),
});
