// @harmonics/transport-worker: tensors between threads — Web Workers and
// Node's worker_threads — over message ports (transferred, with credit flow
// control), a shared-memory ring, and a bus that workers share. Browser-safe:
// Node's objects are taken structurally, nothing is imported from Node.
export { PortConsumer } from './port-consumer.js';
export type { PortConsumerOptions } from './port-consumer.js';
export { PortProducer } from './port-producer.js';
export type { PortProducerOptions } from './port-producer.js';
export type { EmitterLike, Endpoint, EventTargetLike, PostTarget } from './endpoint.js';
export { DEFAULT_WINDOW_BYTES, MESSAGE_OVERHEAD_BYTES } from './protocol.js';
export { createRing } from './ring.js';
export type { RingOptions } from './ring.js';
export { RingConsumer } from './ring-consumer.js';
export type { RingConsumerOptions } from './ring-consumer.js';
export { RingProducer } from './ring-producer.js';
export type { RingProducerOptions } from './ring-producer.js';
export { SharedBus } from './shared-bus.js';
export type { SharedBusOptions } from './shared-bus.js';
