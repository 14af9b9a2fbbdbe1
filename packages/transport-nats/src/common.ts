// What both entries (Node and browser) export.
export { NatsConsumerBase } from './consumer.js';
export type { NatsPubAck, NatsPushOptions } from './consumer.js';
export { NatsProducerBase } from './producer.js';
export type { NatsDelivery } from './producer.js';
export type { Connector, NatsConsumerOptions, NatsOptions, NatsProducerOptions } from './options.js';
export { runStage } from './stage.js';
export type { StageOptions, StageResult } from './stage.js';
export { CHUNKS_HEADER, CHUNK_HEADROOM, DEFAULT_PREFETCH, DEFAULT_PUBLISH_TIMEOUT_MS, END_HEADER, LENGTH_HEADER } from './protocol.js';
