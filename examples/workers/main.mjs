// The demo MLP (examples/pipeline/model.mjs) split by layer across worker
// threads of this one process: one layer a worker, joined by shared-memory
// rings (default) or message ports, fed and read by the main thread, and
// checked bit for bit against the single-thread forward pass.
//
//   node main.mjs [--link ring|port] [--tensors 200] [--rows 32]
import { MessageChannel, Worker } from 'node:worker_threads';
import { parseArgs } from 'node:util';
import { PortConsumer, PortProducer, RingConsumer, RingProducer, createRing } from '@harmonics/transport-worker';
import { LAYERS, countMismatches, makeInput, makeWeights } from '../pipeline/model.mjs';

const { values: args } = parseArgs({
  options: {
    link: { type: 'string', default: 'ring' },
    tensors: { type: 'string', default: '200' },
    rows: { type: 'string', default: '32' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  console.log('usage: node main.mjs [--link ring|port] [--tensors 200] [--rows 32]');
  process.exit(0);
}
function usage(message) {
  console.error(`error: ${message}\nrun with --help for usage`);
  process.exit(2);
}
if (!['ring', 'port'].includes(args.link)) usage(`--link is ring or port, got ${args.link}`);
const count = Number(args.tensors);
const rows = Number(args.rows);
if (!Number.isInteger(count) || count < 1) usage(`--tensors must be a whole number ≥ 1, got ${args.tensors}`);
if (!Number.isInteger(rows) || rows < 1) usage(`--rows must be a whole number ≥ 1, got ${args.rows}`);

const weights = makeWeights();
const inputs = Array.from({ length: count }, (_, i) => makeInput(i, rows));

// Link h joins party h and party h+1: the main thread, then one worker per layer, then the main thread.
// A link is a ring (a SharedArrayBuffer both sides open) or a MessageChannel (one port each).
const links = Array.from({ length: LAYERS.length + 1 }, () => {
  if (args.link === 'ring') {
    const ring = createRing({ capacityBytes: 4 * 1024 * 1024 });
    return { writer: { ring }, reader: { ring }, transfer: [] };
  }
  const { port1, port2 } = new MessageChannel();
  return { writer: { port: port1 }, reader: { port: port2 }, transfer: [port1, port2] };
});

const start = performance.now();
const workers = LAYERS.map((layer, i) => {
  const input = links[i].reader;
  const output = links[i + 1].writer;
  const layerWeights = new Map([`${layer.name}.weight`, `${layer.name}.bias`].map((k) => [k, weights.get(k)]));
  const transferList = [input.port, output.port].filter(Boolean);
  const worker = new Worker(new URL('./stage.mjs', import.meta.url), {
    workerData: { layers: [layer], weights: layerWeights, input, output },
    transferList,
  });
  const report = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => code !== 0 && reject(new Error(`the worker of ${layer.name} exited with code ${code}`)));
  });
  return { layer, worker, report };
});

const first = links[0].writer;
const last = links.at(-1).reader;
const feed = first.ring ? new RingConsumer(first.ring) : new PortConsumer(first.port);
const sink = last.ring ? new RingProducer(last.ring) : new PortProducer(last.port);
const feeding = (async () => {
  // With rings the input keeps its data (a ring copies); ports transfer by default, so send copies of
  // the inputs that the check below needs afterwards.
  for (const x of inputs) await feed.push(first.ring ? x : { ...x, data: x.data.slice() });
  await feed.close();
})();
const results = [];
for await (const y of sink) results.push(y);
await feeding;
const reports = await Promise.all(workers.map((w) => w.report));
const seconds = (performance.now() - start) / 1000;

const checkStart = performance.now();
const mismatches = countMismatches(inputs, results, weights);

const singleSeconds = (performance.now() - checkStart) / 1000;
console.log(
  `${count} tensors of [${rows}, ${LAYERS[0].inputs}] float32 through ${LAYERS.length} worker threads (${args.link} links) in ${seconds.toFixed(2)} s; the single-thread forward pass took ${singleSeconds.toFixed(2)} s`,
);
console.log('stage  layer  link   tensors  compute ms  busy %');
workers.forEach((w, i) => {
  const r = reports[i];
  console.log(
    [
      String(i).padEnd(6),
      w.layer.name.padEnd(6),
      args.link.padEnd(6),
      String(r.count).padStart(7),
      r.computeMs.toFixed(1).padStart(11),
      ((r.computeMs / 1000 / seconds) * 100).toFixed(0).padStart(7),
    ].join(' '),
  );
});
if (mismatches > 0 || results.length !== count) {
  console.error(`MISMATCH: ${mismatches} of ${count} outputs differ from the single-thread forward pass (${results.length} received)`);
  process.exit(1);
}
console.log(`OK: the output of ${count} tensors through ${LAYERS.length} worker threads matches the single-thread forward pass bit for bit`);
