// @harmonics/transport-flight: Apache Arrow Flight for tensors, on @grpc/grpc-js
// and apache-arrow. Tensors travel as rows of arrow.fixed_shape_tensor columns.
export { FlightConsumer } from './consumer.js';
export type { FlightConsumerOptions, LocalFlightOptions } from './consumer.js';
export { FlightProducer } from './producer.js';
export type { FlightProducerOptions } from './producer.js';
export { TensorFlightServer } from './server.js';
export type { FlightServerTls, HandshakeRequest, StreamInfo, TensorFlightListenOptions, TensorFlightServerOptions } from './server.js';
export type { StreamOptions } from './stream.js';
export type { FlightClientOptions, FlightClientTls } from './client.js';
export {
  DEFAULT_CLIENT_KEEPALIVE_MS,
  DEFAULT_FLOW_CONTROL_WINDOW,
  DEFAULT_KEEPALIVE_TIMEOUT_MS,
  DEFAULT_SERVER_KEEPALIVE_MS,
  DEFAULT_STREAM,
  END_ACTION,
  WRITER_KEY,
} from './client.js';
export { CONTINUES_KEY, ERROR_CODE_KEY } from './errors.js';
export { DTYPE_KEY, EXTENSION_NAME, encapsulate, receiveLayout, sendLayout, unencapsulate } from './arrow.js';
export type { SendLayout, TensorLayout } from './arrow.js';
export { SERVICE as FLIGHT_SERVICE } from './service.js';
export { flightTransport } from './url-transport.js';
export { FlightClient } from './describe.js';
export type { FlightDescription } from './describe.js';
