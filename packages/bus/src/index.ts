export { MessageBus } from './message-bus.js';
export type { MessageBusOptions } from './message-bus.js';
export { BusProducer } from './bus-producer.js';
export { BusConsumer } from './bus-consumer.js';
