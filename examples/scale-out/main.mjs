// The demo MLP (examples/pipeline/model.mjs) scaled out on NATS JetStream:
// this process applies l1 and publishes to stream SCALEOUT_MID; three worker
// processes (worker.mjs) share its durable consumer as a work queue, apply
// l2 and l3 and publish to SCALEOUT_OUT with runStage; this process reads
// the outputs, applies l4 and checks them bit for bit against the
// single-process forward pass. One worker is killed (SIGKILL) mid-run: its
// input is redelivered to another, and every output is there exactly once.
//
//   node main.mjs [--tensors 120] [--rows 16] [--workers 3] [--servers nats://HOST:PORT,…]
//
// Without --servers it starts a nats-server of its own (JetStream, storage
// in a temp dir): Debian's `apt-get install nats-server`, or set
// HARMONICS_NATS_SERVER to the binary.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { NatsConsumer, NatsProducer } from '@harmonics/transport-nats';
import { LAYERS, countMismatches, forward, makeInput, makeWeights } from '../pipeline/model.mjs';

const { values: args } = parseArgs({
  options: {
    tensors: { type: 'string', default: '120' },
    rows: { type: 'string', default: '16' },
    workers: { type: 'string', default: '3' },
    servers: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  console.log('usage: node main.mjs [--tensors 120] [--rows 16] [--workers 3] [--servers nats://HOST:PORT,…]');
  console.log('without --servers, starts a nats-server of its own (HARMONICS_NATS_SERVER, /usr/sbin/nats-server or nats-server on PATH)');
  process.exit(0);
}
function usage(message) {
  console.error(`error: ${message}\nrun with --help for usage`);
  process.exit(2);
}
const count = Number(args.tensors);
const rows = Number(args.rows);
const workerCount = Number(args.workers);
if (!Number.isInteger(count) || count < 10) usage(`--tensors must be a whole number ≥ 10, got ${args.tensors}`);
if (!Number.isInteger(rows) || rows < 1) usage(`--rows must be a whole number ≥ 1, got ${args.rows}`);
if (!Number.isInteger(workerCount) || workerCount < 2) usage(`--workers must be a whole number ≥ 2 (one is killed), got ${args.workers}`);

/** A nats-server of our own on a free port; `stop()` ends it and removes its storage. */
async function startServer() {
  const bin = process.env.HARMONICS_NATS_SERVER ?? (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server');
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
  const store = mkdtempSync(join(tmpdir(), 'scale-out-nats-'));
  const child = spawn(bin, ['-js', '-sd', store, '-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const failed = new Promise((_, reject) =>
    child.once('error', (err) =>
      reject(new Error(`cannot run ${bin}: ${err.message}; install nats-server (apt-get install nats-server) or pass --servers`)),
    ),
  );
  failed.catch(() => undefined);
  // Wait until it accepts connections (at most 15 s).
  const until = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${bin} exited (${child.exitCode}) before it listened on ${port}`);
    const up = await Promise.race([
      new Promise((resolve) => {
        const socket = connect(port, '127.0.0.1');
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      }),
      failed,
    ]);
    if (up) break;
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`${bin} did not listen on ${port} within 15 s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(store, { recursive: true, force: true });
  };
  return { url: `nats://127.0.0.1:${port}`, failed, stop };
}

// Once a third of the inputs are answered, SIGKILL the worker that answered most: it is then holding an input
// (prefetch 1, and two thirds of the queue remain), which the server redelivers to another worker after ackWaitMs.
let answeredTotal = 0;
let victim;
function onAnswered() {
  if (++answeredTotal < count / 3 || victim !== undefined) return;
  victim = workers.reduce((a, b) => (b.answered > a.answered ? b : a));
  victim.killed = true;
  victim.child.kill('SIGKILL');
}

function startWorker(servers, name) {
  const child = spawn(process.execPath, [new URL('./worker.mjs', import.meta.url).pathname, '--servers', servers.join(','), '--name', name], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const w = { name, child, answered: 0, redelivered: 0, duplicates: 0, killed: false, ready: undefined };
  w.ready = new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker ${name} exited (${code}) before it was ready`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = JSON.parse(line);
      if (m.ready) resolve();
      if (m.input !== undefined) {
        w.answered++;
        if (m.redelivered) w.redelivered++;
        if (m.duplicate) w.duplicates++;
        onAnswered();
      }
    });
  });
  w.ready.catch(() => undefined);
  return w;
}

const workers = [];
const own =
  args.servers === undefined
    ? await startServer().catch((err) => {
        console.error(`error: ${err.message}`);
        process.exit(1);
      })
    : undefined;
const servers = args.servers?.split(',') ?? [own.url];
let exitCode = 1;
try {
  const weights = makeWeights();
  const inputs = Array.from({ length: count }, (_, i) => makeInput(i, rows));
  // Fresh streams for this run; the workers find them made.
  const mid = new NatsConsumer('scaleout.mid', { servers, stream: 'SCALEOUT_MID', createStream: true });
  const out = new NatsProducer('scaleout.out', { servers, stream: 'SCALEOUT_OUT', createStream: true, idleTimeoutMs: 60_000 });
  await Promise.race([Promise.all([mid.ready, out.ready]), own?.failed ?? new Promise(() => undefined)]);
  for (let i = 0; i < workerCount; i++) workers.push(startWorker(servers, `w${i + 1}`));
  await Promise.all(workers.map((w) => w.ready));

  const start = performance.now();
  for (let i = 0; i < count; i++) await mid.push(forward(inputs[i], LAYERS.slice(0, 1), weights), { msgId: `input:${i}` });
  await mid.close(); // the end marker: every worker of the durable ends once the queue is drained

  const results = new Array(count);
  let received = 0;
  while (received < count) {
    const y = await out.next();
    // The output's id is middle:SCALEOUT_MID:SEQ, and input i went out as stream sequence i + 1.
    const seq = Number(out.delivery.msgId.split(':').pop());
    if (results[seq - 1] !== undefined) throw new Error(`output of input ${seq - 1} arrived twice`);
    results[seq - 1] = forward(y, LAYERS.slice(3), weights);
    received++;
  }
  const seconds = (performance.now() - start) / 1000;
  // Nothing more may come: a duplicate output would arrive within these 3 s.
  const extra = await out.next({ signal: AbortSignal.timeout(3000) }).then(
    () => 1,
    (err) => (err.code === 'ERR_ABORTED' ? 0 : Promise.reject(err)),
  );
  await Promise.all(workers.filter((w) => !w.killed).map((w) => new Promise((r) => (w.child.exitCode !== null ? r() : w.child.once('exit', r)))));
  await out.close();

  console.log('worker  answered  redelivered-taken  published-again (de-duplicated)  state');
  for (const w of workers) {
    console.log(
      `${w.name.padEnd(7)} ${String(w.answered).padStart(8)}  ${String(w.redelivered).padStart(17)}  ${String(w.duplicates).padStart(31)}  ${w.killed ? 'killed (SIGKILL) mid-run' : 'ended with the stream'}`,
    );
  }
  const mismatches = countMismatches(inputs, results, weights);
  console.log(`${count} tensors in ${seconds.toFixed(1)} s through ${workerCount} workers on ${servers.join(', ')}`);
  if (mismatches === 0 && extra === 0) {
    console.log(
      `OK: ${count} outputs, each exactly once, match the single-process forward pass bit for bit; worker ${victim.name} was killed mid-run`,
    );
    exitCode = 0;
  } else {
    console.log(
      `FAILED: ${mismatches} of ${count} outputs differ from the single-process forward pass${extra ? ', and a duplicate output arrived' : ''}`,
    );
  }
} catch (err) {
  console.error(`error: ${err.code ? `${err.code}: ` : ''}${err.message}`);
} finally {
  for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  await own?.stop();
}
process.exit(exitCode);
