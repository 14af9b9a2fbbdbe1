// The second process: reads activations from stdin, applies layer 2, writes
// logits to stdout. Framing is the C++ library's length-prefixed records.
import { StreamConsumer, StreamProducer } from '@harmonics/core';
import { LAYER2, dense } from './model.mjs';

const input = new StreamProducer(process.stdin);
const output = new StreamConsumer(process.stdout);
for await (const activations of input) {
  await output.push(dense(activations, LAYER2, false));
}
await output.close();
