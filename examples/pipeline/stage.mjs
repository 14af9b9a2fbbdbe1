// One stage of the split model, in its own process or, next to a `worker`
// hop, in a worker thread of the coordinator (started by main.mjs): read
// activations from its input target, apply its layers, write the result to
// its output target. Targets are URLs resolved by @harmonics/url; a worker
// hop is a MessagePort shared with the coordinator (@harmonics/transport-worker).
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort } from 'node:worker_threads';
import { encodedByteLength, tensor } from '@harmonics/core';
import { loadNamedWeights } from '@harmonics/transport-file';
import { PortConsumer, PortProducer } from '@harmonics/transport-worker';
import { makeConsumer, makeProducer } from '@harmonics/url';
import { LAYERS, forward } from './model.mjs';

// The line to the coordinator: IPC in a process, the parent port in a thread.
const coordinator = isMainThread
  ? { on: (fn) => process.on('message', fn), post: (m, cb) => process.send(m, cb), end: () => process.disconnect() }
  : {
      on: (fn) => parentPort.on('message', fn),
      post: (m, cb) => {
        parentPort.postMessage(m);
        cb?.();
      },
      end: () => parentPort.close(),
    };
const openInput = (hop) => (hop.kind === 'worker' ? new PortProducer(hop.port) : makeProducer(hop.receive));
const openOutput = (hop) => (hop.kind === 'worker' ? new PortConsumer(hop.port) : makeConsumer(hop.send));

const now = () => performance.timeOrigin + performance.now();
const messages = [];
let wake;
// The window: how many tensors the receiver of our output hop has taken (relayed by the coordinator).
let outTaken = 0;
let wakeCredit;
coordinator.on((m) => {
  if (m.type === 'took') {
    outTaken = m.n;
    wakeCredit?.();
    return;
  }
  messages.push(m);
  wake?.();
});
async function waitFor(type) {
  for (;;) {
    const i = messages.findIndex((m) => m.type === type);
    if (i >= 0) return messages.splice(i, 1)[0];
    await new Promise((r) => (wake = r));
  }
}
const send = (m) => new Promise((resolve) => coordinator.post(m, resolve));

const config = await waitFor('config');
try {
  const layers = LAYERS.filter((l) => config.layers.includes(l.name));
  const weights = await loadNamedWeights(config.weights);

  // A streaming input listens now, before anyone sends; a file input is opened once its writer is done.
  let input = config.input.kind === 'file' ? undefined : await openInput(config.input);
  await send({ type: 'ready' });
  await waitFor('go');
  const output = await openOutput(config.output);
  if (input === undefined) {
    await waitFor('hop-complete');
    input = await makeProducer(config.input.receive);
  }

  const received = [];
  const ready = [now()]; // when this stage was ready for tensor i: it had handled tensor i-1
  const sent = [];
  let bytesIn = 0;
  let bytesOut = 0;
  for await (const x of input) {
    received.push(now());
    if (config.input.kind !== 'file') coordinator.post({ type: 'took', hop: config.index, n: received.length });
    bytesIn += encodedByteLength(x);
    let y = forward(x, layers, weights);
    if (config.fault && sent.length === 0) {
      // --fault: flip the lowest bit of one value, to show the checker catches it.
      const data = Float32Array.from(y.data);
      new Uint32Array(data.buffer)[0] ^= 1;
      y = tensor('float32', y.shape, data);
    }
    bytesOut += encodedByteLength(y);
    // At most `window` tensors in flight on a streaming output hop, so its latency is the medium's, not a queue's.
    if (config.output.kind !== 'file') {
      while (sent.length - outTaken >= config.window) await new Promise((r) => (wakeCredit = r));
    }
    sent.push(now());
    await output.push(y);
    ready.push(now());
  }
  await output.close();
  await input.close(); // a listening input also stops listening
  await send({ type: 'done', received, ready, sent, bytesIn, bytesOut });
  coordinator.end();
} catch (err) {
  // One line for the coordinator's log, with the error code the transports give.
  console.error(`stage ${config.index}: ${err.code ? `${err.code}: ` : ''}${err.message}`);
  process.exit(1);
}
