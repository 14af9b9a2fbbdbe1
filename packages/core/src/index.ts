// @harmonics/core: the tensor type, the wire codec, the Producer/Consumer
// contract and byte-stream adapters. Browser-safe: no Node built-ins, no Buffer.
export { HarmonicsError, isHarmonicsError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { DTYPES, dtypeInfo, dtypeFromCode, isDType } from './dtype.js';
export type { DType, DTypeArrayMap, DTypeInfo, TypedArray, TypedArrayConstructor } from './dtype.js';
export { MAX_NDIM, tensor, elementCount, tensorBytes } from './tensor.js';
export type { Tensor, TensorValues } from './tensor.js';
export {
  DEFAULT_MAX_MESSAGE_BYTES,
  LENGTH_PREFIX_BYTES,
  decodeTensor,
  encodeTensor,
  encodeTensorInto,
  encodeTensorParts,
  encodedByteLength,
  recordHeaderLength,
} from './codec.js';
export type { DecodeOptions, EncodeOptions } from './codec.js';
export { FrameDecoder } from './frame-decoder.js';
export type { FrameDecoderOptions } from './frame-decoder.js';
export type { AbortOptions, Consumer, Producer } from './contract.js';
export type { ConnectionOptions, ListeningServer, ServerCloseOptions } from './options.js';
export { DEFAULT_CONNECT_TIMEOUT_MS } from './transport.js';
export type { Target, Transport, TransportOptions } from './transport.js';
export { BaseConsumer, BaseProducer } from './base.js';
export { pipe } from './pipe.js';
export type { PipeOptions } from './pipe.js';
export { StreamProducer } from './stream-producer.js';
export type { ByteSource, ChunkSource, Framing, StreamProducerOptions } from './stream-producer.js';
export { DEFAULT_STREAM_HIGH_WATER_MARK, StreamConsumer } from './stream-consumer.js';
export type { ByteSink, StreamConsumerOptions, WritableLike } from './stream-consumer.js';
export { fromOrt, fromTfjs, toOrt, toTfjs } from './adapters.js';
export type { OrtTensorLike, TfjsTensorLike } from './adapters.js';
