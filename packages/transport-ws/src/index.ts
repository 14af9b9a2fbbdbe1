// @harmonics/transport-ws (Node entry): tensors over WebSocket with `ws`.
// Browsers get ./browser.ts through the `browser` export condition.
export {
  CLOSE_INVALID_PAYLOAD,
  CLOSE_NORMAL,
  CLOSE_TOO_BIG,
  CLOSE_UNSUPPORTED_DATA,
  DEFAULT_CONNECT_TIMEOUT_MS,
  WebSocketChannelConsumer,
  WebSocketChannelProducer,
} from './channel.js';
export type { SocketAdapter, WebSocketChannelOptions, WebSocketConsumerOptions, WebSocketProducerOptions } from './channel.js';
export { WebSocketConsumer, WebSocketProducer, wsTransport } from './node.js';
export type { NodeClientOptions } from './node.js';
export { nodeSocketAdapter } from './node-adapter.js';
export type { KeepAlive } from './node-adapter.js';
export { IncomingWebSocket, WebSocketServer } from './server.js';
export type { WebSocketServerCloseOptions, WebSocketServerOptions } from './server.js';
