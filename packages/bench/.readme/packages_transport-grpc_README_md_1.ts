// from packages/transport-grpc/README.md, block 1
import { tensor } from '@harmonics/core';
import { GrpcConsumer, GrpcProducer, GrpcServer } from '@harmonics/transport-grpc';

const server = await GrpcServer.listen({ port: 0 }); // 127.0.0.1, a free port
const consumer = new GrpcConsumer('127.0.0.1', server.port);
const producer = new GrpcProducer('127.0.0.1', server.port);

await consumer.push(tensor('float32', [2, 2], [1, 2, 3, 4]));
await consumer.close(); // the server answered: it has every tensor

for await (const t of producer) console.log(t.shape, t.data); // ends when the last writer is done
await server.close();

export {};
