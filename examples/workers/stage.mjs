// One stage of examples/workers, in a worker thread: read a tensor from the
// input link, apply this stage's layers, write the result to the output link,
// until the input ends. Reports how many tensors it took and how long it
// computed.
import { parentPort, workerData } from 'node:worker_threads';
import { PortConsumer, PortProducer, RingConsumer, RingProducer } from '@harmonics/transport-worker';
import { forward } from '../pipeline/model.mjs';

const { layers, weights, input, output } = workerData;
const open = (link, reading) =>
  link.ring !== undefined
    ? reading
      ? new RingProducer(link.ring)
      : new RingConsumer(link.ring)
    : reading
      ? new PortProducer(link.port)
      : new PortConsumer(link.port);

const producer = open(input, true);
const consumer = open(output, false);
let count = 0;
let computeMs = 0;
for await (const x of producer) {
  const t0 = performance.now();
  const y = forward(x, layers, weights);
  computeMs += performance.now() - t0;
  await consumer.push(y);
  count++;
}
await consumer.close();
parentPort.postMessage({ count, computeMs });
