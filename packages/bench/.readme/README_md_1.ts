// from README.md, block 1
import { makeConsumer, makeProducer } from '@harmonics/url';

// One stage of a split model: activations in over TCP, results out over gRPC.
const input = await makeProducer('tcp://127.0.0.1:9000?listen');
const output = await makeConsumer('grpc://127.0.0.1:50051');
for await (const x of input) await output.push(x); // (apply your layer to x here)
await output.close();

export {};
