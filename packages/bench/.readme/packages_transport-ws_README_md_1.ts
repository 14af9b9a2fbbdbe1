// from packages/transport-ws/README.md, block 1
import { tensor } from '@harmonics/core';
import { WebSocketConsumer, WebSocketServer } from '@harmonics/transport-ws';

const server = await WebSocketServer.listen({ port: 0, path: '/tensors' });
const consumer = new WebSocketConsumer(`ws://127.0.0.1:${server.port}/tensors`);
const producer = await server.acceptProducer();
await consumer.push(tensor('float32', [2], [1, 2]));
await consumer.close();              // normal closure (1000), waits for the peer's
console.log(await producer.next());  // the tensor; then undefined: the stream ended
await server.close();

export {};
