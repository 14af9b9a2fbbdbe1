import { HarmonicsError, type Target, type Transport, type TransportOptions } from '@harmonics/core';
import { type ParamKind, applyParams } from '@harmonics/internal';
import { FileConsumer } from './file-consumer.js';
import { FileProducer } from './file-producer.js';
import { StreamingFileConsumer, StreamingFileProducer } from './streaming-file.js';

const PRODUCER_PARAMS: Record<string, ParamKind> = {
  maxMessageBytes: 'integer',
  loop: 'flag',
  follow: 'flag',
  idleTimeoutMs: 'number',
  pollIntervalMs: 'number',
};
const CONSUMER_PARAMS: Record<string, ParamKind> = { maxMessageBytes: 'integer', append: 'flag', stream: 'flag', sync: 'flag' };

interface ProducerParams {
  maxMessageBytes?: number;
  loop?: boolean;
  follow?: boolean;
  idleTimeoutMs?: number;
  pollIntervalMs?: number;
}

interface ConsumerParams {
  maxMessageBytes?: number;
  append?: boolean;
  stream?: boolean;
  sync?: boolean;
}

/**
 * `file:PATH` for `@harmonics/url`. Producers: a {@link FileProducer}
 * (`?loop` to cycle), or with `?follow` a {@link StreamingFileProducer} that
 * waits for a writer to append (`idleTimeoutMs`, `pollIntervalMs`).
 * Consumers: a {@link FileConsumer} that replaces the file (`?append` to
 * append), or with `?stream` / `?sync` a {@link StreamingFileConsumer} that
 * writes each record before `push()` resolves, so a follower sees it at once.
 */
export const fileTransport: Transport = {
  name: '@harmonics/transport-file',
  schemes: ['file'],

  async producer(target: Target, options: TransportOptions) {
    const o = applyParams<ProducerParams>(target, options, PRODUCER_PARAMS);
    const following = o.follow === true || o.idleTimeoutMs !== undefined || o.pollIntervalMs !== undefined;
    if (!following) return new FileProducer(target.path!, o);
    if (o.loop === true) throw new HarmonicsError('ERR_INVALID_ARGUMENT', `${target.href}: loop and follow do not combine; pick one`);
    return new StreamingFileProducer(target.path!, { ...o, follow: o.follow ?? true });
  },

  async consumer(target: Target, options: TransportOptions) {
    const o = applyParams<ConsumerParams>(target, options, CONSUMER_PARAMS);
    if (o.stream === true || o.sync === true) return new StreamingFileConsumer(target.path!, { ...o, truncate: o.append !== true });
    return new FileConsumer(target.path!, o);
  },
};
