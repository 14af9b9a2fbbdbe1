// @harmonics/transport-grpc: the C++ library's harmonics.TensorService on @grpc/grpc-js.
export { GrpcConsumer } from './consumer.js';
export type { GrpcConsumerOptions } from './consumer.js';
export { GrpcProducer } from './producer.js';
export { GrpcServer, GrpcServerConsumer, GrpcServerProducer } from './server.js';
export type { GrpcServerCloseOptions, GrpcServerOptions, GrpcServerTls } from './server.js';
export type { GrpcClientOptions, GrpcClientTls, MetadataOption } from './client.js';
export {
  DEFAULT_CLIENT_KEEPALIVE_MS,
  DEFAULT_FLOW_CONTROL_WINDOW,
  DEFAULT_KEEPALIVE_TIMEOUT_MS,
  DEFAULT_SERVER_KEEPALIVE_MS,
  MAGIC_KEY,
  MAGIC_VALUE,
  POP_PATH,
  PUSH_PATH,
} from './client.js';
export { grpcTransport } from './url-transport.js';
