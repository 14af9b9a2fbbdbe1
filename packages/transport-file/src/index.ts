export { FileProducer } from './file-producer.js';
export type { FileProducerOptions } from './file-producer.js';
export { FileConsumer } from './file-consumer.js';
export type { FileConsumerOptions } from './file-consumer.js';
export { StreamingFileConsumer, StreamingFileProducer } from './streaming-file.js';
export type { StreamingFileConsumerOptions, StreamingFileProducerOptions } from './streaming-file.js';
export {
  decodeNamedWeights,
  decodeWeights,
  encodeNamedWeights,
  encodeWeights,
  loadNamedWeights,
  loadWeights,
  saveNamedWeights,
  saveWeights,
} from './weights.js';
export { fileTransport } from './url-transport.js';
