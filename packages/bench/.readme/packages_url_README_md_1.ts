// from packages/url/README.md, block 1
import { makeConsumer, makeProducer } from '@harmonics/url';

// A stage of a split model: read activations from one endpoint, write results to another.
const input = await makeProducer('tcp://127.0.0.1:9000?listen'); // bind, wait for the upstream stage
const output = await makeConsumer('file:results.bin');
for await (const x of input) await output.push(x);
await output.close();

export {};
