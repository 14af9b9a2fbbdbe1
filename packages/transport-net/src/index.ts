export { SocketProducer } from './socket-producer.js';
export type { SocketProducerOptions, SocketSource } from './socket-producer.js';
export { SocketConsumer } from './socket-consumer.js';
export type { SocketConsumerOptions, SocketSink } from './socket-consumer.js';
export { TcpConsumer, TcpProducer, UnixConsumer, UnixProducer } from './clients.js';
export type { ClientConsumerOptions, ClientProducerOptions } from './clients.js';
export type { ConnectOptions } from './connect.js';
export { IncomingConnection, SocketServer } from './socket-server.js';
export type { SocketServerOptions } from './socket-server.js';
