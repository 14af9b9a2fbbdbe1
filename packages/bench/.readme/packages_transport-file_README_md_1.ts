// from packages/transport-file/README.md, block 1
import { tensor } from '@harmonics/core';
import { FileConsumer, FileProducer, loadNamedWeights, saveNamedWeights } from '@harmonics/transport-file';

const out = new FileConsumer('activations.bin');
await out.push(tensor('float32', [2, 3], [1, 2, 3, 4, 5, 6]));
await out.close();

const input = new FileProducer('activations.bin');
for await (const t of input) console.log(input.size, t.shape); // size: 1

await saveNamedWeights('model.hnwt', { 'dense/kernel': tensor('float32', [2, 2], [1, 0, 0, 1]) });
const weights = await loadNamedWeights('model.hnwt'); // Map in file order

export {};
