// The README's main job: a small MLP split by layer across separate Node
// processes joined by URLs (default file → tcp → grpc → ws → flight → file), checked
// bit for bit against the single-process forward pass, with a table per hop.
//
//   node main.mjs [--hops file,tcp,grpc,ws,flight,file] [--tensors 200] [--rows 32] [--window 4] [--timeout-s 120]
//
// Hops: file, tcp, unix, grpc, ws, flight, worker. N hops make N-1 stages; the 4 layers are spread over
// them in order (a stage may be a pure relay). The first hop is fed by this
// process, the last one is read by it. A stage next to a `worker` hop runs in
// a worker thread of this process instead of a process of its own, so a
// worker hop is the first or the last.
import { fork } from 'node:child_process';
import { MessageChannel, Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { encodedByteLength } from '@harmonics/core';
import { loadNamedWeights, saveNamedWeights } from '@harmonics/transport-file';
import { PortConsumer, PortProducer } from '@harmonics/transport-worker';
import { makeConsumer, makeProducer } from '@harmonics/url';
import { LAYERS, countMismatches, makeInput, makeWeights } from './model.mjs';

const HOP_KINDS = ['file', 'tcp', 'unix', 'grpc', 'ws', 'flight', 'worker'];
const { values: args } = parseArgs({
  options: {
    hops: { type: 'string', default: 'file,tcp,grpc,ws,flight,file' },
    tensors: { type: 'string', default: '200' },
    rows: { type: 'string', default: '32' },
    window: { type: 'string', default: '4' },
    'timeout-s': { type: 'string', default: '120' },
    fault: { type: 'string' }, // stage number whose first output gets one bit flipped (tests the checker)
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  console.log('usage: node main.mjs [--hops file,tcp,grpc,ws,flight,file] [--tensors 200] [--rows 32] [--window 4] [--timeout-s 120]');
  console.log('window: tensors in flight on each streaming hop (sent, not yet taken by the receiver)');
  console.log(`hops: ${HOP_KINDS.join(', ')}; N hops make N-1 stages; a stage next to a worker hop is a thread of this process`);
  process.exit(0);
}
const hops = args.hops.split(',').map((h) => h.trim());
const count = positive('tensors', args.tensors);
const rows = positive('rows', args.rows);
const window = positive('window', args.window);
const bad = hops.filter((h) => !HOP_KINDS.includes(h));
if (bad.length > 0 || hops.length < 2) usage(`--hops needs at least 2 of ${HOP_KINDS.join(', ')}; got ${args.hops}`);
const stages = hops.length - 1;
if (hops.some((h, i) => h === 'worker' && i !== 0 && i !== hops.length - 1))
  usage('a worker hop joins this process and a stage in one of its threads: use it as the first or the last hop');
if (args.fault !== undefined && !(Number(args.fault) >= 0 && Number(args.fault) < stages))
  usage(`--fault takes a stage number from 0 to ${stages - 1}`);

function positive(name, text) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) usage(`--${name} must be a whole number ≥ 1, got ${text}`);
  return n;
}
function usage(message) {
  console.error(`error: ${message}\nrun with --help for usage`);
  process.exit(2);
}

const now = () => performance.timeOrigin + performance.now();
const dir = mkdtempSync(join(tmpdir(), 'harmonics-pipeline-'));
const children = [];
const watchdog = setTimeout(() => fail(`the pipeline did not finish within ${args['timeout-s']} s`), Number(args['timeout-s']) * 1000);
watchdog.unref();

process.on('uncaughtException', (err) => fail(`${err.code ? `${err.code}: ` : ''}${err.message}`));

function fail(message) {
  console.error(`FAILED: ${message}`);
  for (const c of children) c.kill();
  rmSync(dir, { recursive: true, force: true });
  process.exit(1);
}

/** A free loopback port (bound and released; the receiver binds it again at once). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** The two ends of hop `h`: the sender's target and the receiver's (which listens for streaming hops). */
async function hopTargets(kind, h) {
  switch (kind) {
    case 'worker': {
      // A MessageChannel: this process keeps one port, the stage thread gets the other.
      const { port1, port2 } = new MessageChannel();
      return h === 0 ? { kind, send: port1, receive: port2, stagePort: port2 } : { kind, send: port1, receive: port2, stagePort: port1 };
    }
    case 'file': {
      const path = join(dir, `hop${h}.bin`);
      return { kind, send: `file:${path}`, receive: `file:${path}` };
    }
    case 'unix': {
      const path = join(dir, `hop${h}.sock`);
      return { kind, send: `unix:${path}`, receive: `unix:${path}?listen` };
    }
    case 'ws': {
      const port = await freePort();
      return { kind, send: `ws://127.0.0.1:${port}/hop${h}`, receive: `ws://127.0.0.1:${port}/hop${h}?listen` };
    }
    case 'flight': {
      const port = await freePort();
      return { kind, send: `flight:127.0.0.1:${port}/hop${h}`, receive: `flight:127.0.0.1:${port}/hop${h}?listen` };
    }
    default: {
      const port = await freePort();
      return { kind, send: `${kind}:127.0.0.1:${port}`, receive: `${kind}:127.0.0.1:${port}?listen` };
    }
  }
}

// The model: weights saved once and loaded by every process (this one too), inputs generated from seeds.
const weightsPath = join(dir, 'weights.hnwt');
await saveNamedWeights(weightsPath, makeWeights());
const weights = await loadNamedWeights(weightsPath);
const inputs = Array.from({ length: count }, (_, i) => makeInput(i, rows));
const targets = [];
for (let h = 0; h < hops.length; h++) targets.push(await hopTargets(hops[h], h));
const split = Array.from({ length: stages }, (_, s) =>
  LAYERS.slice(Math.floor((s * LAYERS.length) / stages), Math.floor(((s + 1) * LAYERS.length) / stages)),
);

// Timestamps (ms since the epoch, comparable across processes on one machine) per hop.
const stats = targets.map(() => ({ sent: [], received: [], ready: [], bytes: 0 }));

// Start the stages; each reports 'ready' once its streaming input listens.
const stageDone = [];
/** A stage in a worker thread, seen through the few ChildProcess members used here. */
function threadStage() {
  const worker = new Worker(new URL('./stage.mjs', import.meta.url));
  const stage = {
    connected: true,
    on: (event, fn) => (event === 'exit' ? worker.on('exit', (code) => fn(code, null)) : worker.on(event, fn)),
    send: (m, cb) => {
      // A worker hop's port travels in the config, transferred.
      const ports = m.type === 'config' ? [m.input.port, m.output.port].filter(Boolean) : [];
      worker.postMessage(m, ports);
      cb?.();
    },
    kill: () => void worker.terminate(),
  };
  worker.on('exit', () => (stage.connected = false));
  return stage;
}

/** The side of hop target `t` a stage gets in its config: worker hops carry the stage's port. */
const forStage = (t) => (t.kind === 'worker' ? { kind: t.kind, port: t.stagePort } : t);

for (let s = 0; s < stages; s++) {
  const inThread = hops[s] === 'worker' || hops[s + 1] === 'worker';
  const child = inThread
    ? threadStage()
    : fork(fileURLToPath(new URL('./stage.mjs', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  let finished = false;
  const ready = new Promise((resolve) => child.on('message', (m) => m.type === 'ready' && resolve()));
  stageDone.push(
    new Promise((resolve) =>
      child.on('message', (m) => {
        if (m.type !== 'done') return;
        finished = true;
        stats[s].received = m.received;
        stats[s].ready = m.ready;
        stats[s].bytes = m.bytesIn;
        stats[s + 1].sent = m.sent;
        resolve();
        if (hops[s + 1] === 'file') hopComplete(s + 1);
      }),
    ),
  );
  // The window: relay what this stage took from its input hop to the sender of that hop.
  child.on('message', (m) => m.type === 'took' && tookOnHop(m.hop, m.n));
  child.on('exit', (code, signal) => {
    if (!finished || code !== 0) fail(`stage ${s} (${split[s].map((l) => l.name).join('+') || 'relay'}) exited with ${signal ?? `code ${code}`}`);
  });
  child.send({
    type: 'config',
    index: s,
    input: forStage(targets[s]),
    output: forStage(targets[s + 1]),
    layers: split[s].map((l) => l.name),
    weights: weightsPath,
    window,
    fault: Number(args.fault) === s,
  });
  children[s].ready = ready;
}
const sinkComplete = new Promise((resolve) => (children.sinkComplete = resolve));
function hopComplete(h) {
  if (h === hops.length - 1) children.sinkComplete();
  else children[h].send({ type: 'hop-complete' });
}
await Promise.all(children.map((c) => c.ready));

/** Hop `h`'s receiver has taken `n` tensors: tell its sender (stage h-1, or this process's feeder for hop 0). */
let feederTaken = 0;
let wakeFeeder;
function tookOnHop(h, n) {
  if (h === 0) {
    feederTaken = n;
    wakeFeeder?.();
  } else if (children[h - 1]?.connected) {
    // A sender that already finished has no use for it: ignore a closed channel (EPIPE) then.
    children[h - 1].send({ type: 'took', n }, () => {});
  }
}

// This process feeds hop 0 and reads the last hop.
const last = targets.length - 1;
// A worker hop is a port of this process; the stage thread has the other end.
const openProducer = (t) => (t.kind === 'worker' ? new PortProducer(t.receive) : makeProducer(t.receive));
let sink = targets[last].kind === 'file' ? undefined : await openProducer(targets[last]);
const start = now();
async function feed() {
  // copy: the inputs stay intact for the check (a worker hop would otherwise transfer their buffers away).
  const out = targets[0].kind === 'worker' ? new PortConsumer(targets[0].send, { copy: true }) : await makeConsumer(targets[0].send);
  for (const x of inputs) {
    if (hops[0] !== 'file') while (stats[0].sent.length - feederTaken >= window) await new Promise((r) => (wakeFeeder = r));
    stats[0].sent.push(now());
    await out.push(x);
  }
  await out.close();
  if (hops[0] === 'file') hopComplete(0);
}
if (hops[0] === 'file') await feed(); // a file hop is store-and-forward: written whole before it is read
for (const c of children) c.send({ type: 'go' });
const feeding = hops[0] === 'file' ? Promise.resolve() : feed();
if (sink === undefined) {
  await sinkComplete;
  sink = await openProducer(targets[last]);
}
const results = [];
stats[last].ready.push(now());
for await (const y of sink) {
  stats[last].received.push(now());
  if (hops[last] !== 'file') tookOnHop(last, stats[last].received.length);
  stats[last].bytes += encodedByteLength(y);
  results.push(y);
  stats[last].ready.push(now());
}
await sink.close();
await feeding;
await Promise.all(stageDone);
const seconds = (now() - start) / 1000;
stats[0].bytes = inputs.reduce((n, x) => n + encodedByteLength(x), 0);

// The check: the same model in this one process.
const mismatches = countMismatches(inputs, results, weights);

// The table: one row per hop.
const names = [
  'main',
  ...split.map(
    (layers, s) => `s${s}:${layers.map((l) => l.name).join('+') || 'relay'}${hops[s] === 'worker' || hops[s + 1] === 'worker' ? '(thread)' : ''}`,
  ),
  'main',
];
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const threads = split.filter((_, s) => hops[s] === 'worker' || hops[s + 1] === 'worker').length;
console.log(
  `${count} tensors of [${rows}, ${LAYERS[0].inputs}] float32 through ${stages - threads} stage processes${threads > 0 ? ` and ${threads} stage threads` : ''} in ${seconds.toFixed(2)} s`,
);
console.log('hop  medium  from → to              tensors      MB     MB/s   p50 ms   p99 ms');
for (let h = 0; h < hops.length; h++) {
  const { sent, received, ready, bytes } = stats[h];
  const streaming = hops[h] !== 'file';
  const span = (received.at(-1) - sent[0]) / 1000;
  // The medium's part: from push() (or from when the receiver was ready, if it was busy then) to next().
  const latency = received.map((t, i) => t - Math.max(sent[i], ready[i])).sort((a, b) => a - b);
  console.log(
    [
      String(h).padEnd(4),
      hops[h].padEnd(7),
      `${names[h]} → ${names[h + 1]}`.padEnd(22),
      String(received.length).padStart(7),
      (bytes / 1e6).toFixed(2).padStart(7),
      (bytes / 1e6 / span).toFixed(1).padStart(8),
      streaming ? pct(latency, 50).toFixed(2).padStart(8) : '       –',
      streaming ? pct(latency, 99).toFixed(2).padStart(8) : '       –',
    ].join(' '),
  );
}
console.log(
  `MB/s is the hop's bytes over its first send → last receive (the pipeline's pace: stages compute); p50/p99 is push() → next() per tensor, from when the receiver was free, so the medium's delay and not a queue's, with at most ${window} tensors in flight per hop (--window); file hops are store-and-forward and show none.`,
);
rmSync(dir, { recursive: true, force: true });
if (mismatches > 0 || results.length !== count) {
  console.error(`MISMATCH: ${mismatches} of ${count} outputs differ from the single-process forward pass (${results.length} received)`);
  process.exit(1);
}
console.log(`OK: the distributed output of ${count} tensors matches the single-process forward pass bit for bit`);
