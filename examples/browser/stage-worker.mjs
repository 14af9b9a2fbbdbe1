// The stage that runs in the page's Web Worker: layers l2 and l3 of the demo
// MLP. Tensors come from the page over the Worker's message channel 'in' and
// go back on 'out' (transferred both ways). The weights are the demo's seeded
// ones, made here the same way as in Node.
import { PortConsumer, PortProducer } from '@harmonics/transport-worker';
import { LAYERS, forward, makeWeights } from '../pipeline/model.mjs';

const layers = LAYERS.filter((l) => l.name === 'l2' || l.name === 'l3');
const weights = makeWeights();
const inputs = new PortProducer(self, { channel: 'in' });
const outputs = new PortConsumer(self, { channel: 'out' });
for await (const x of inputs) await outputs.push(forward(x, layers, weights));
await outputs.close();
