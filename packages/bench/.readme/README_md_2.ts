// from README.md, block 2
import { StreamConsumer, StreamProducer, tensor } from '@harmonics/core';

// Child process: read activations from stdin, write results to stdout.
const input = new StreamProducer(process.stdin);
const output = new StreamConsumer(process.stdout);
for await (const x of input) await output.push(tensor('float32', x.shape, x.data));
await output.close();

export {};
