// from packages/transport-flight/README.md, block 1
import { tensor } from '@harmonics/core';
import { FlightConsumer, FlightProducer, TensorFlightServer } from '@harmonics/transport-flight';

const server = await TensorFlightServer.listen({ port: 0 }); // 127.0.0.1, a free port
const consumer = new FlightConsumer('127.0.0.1', server.port!, { stream: 'activations' });
const producer = new FlightProducer('127.0.0.1', server.port!, { stream: 'activations' });

await consumer.push(tensor('float32', [2, 3], [1, 2, 3, 4, 5, 6]));
await consumer.push(tensor('int64', [4], [1n, 2n, 3n, 4n])); // another schema: a new DoPut, same stream
await consumer.close(); // the server confirmed it has every tensor; the stream ends

for await (const t of producer) console.log(t.dtype, t.shape); // float32 [2,3], then int64 [4]
await producer.close();
await server.close();

export {};
