// from packages/transport-net/README.md, block 1
import { tensor } from '@harmonics/core';
import { SocketServer, TcpConsumer } from '@harmonics/transport-net';

// Process A: listen and read.
const server = await SocketServer.listen({ port: 9000 });
const input = await server.acceptProducer();
for await (const t of input) console.log(t.dtype, t.shape);

// Process B: connect and write.
const out = new TcpConsumer('127.0.0.1', 9000);
await out.push(tensor('float32', [2, 2], [1, 2, 3, 4]));
await out.close(); // A's loop ends cleanly

export {};
