// pnpm fuzz [--inputs N] [--seed S] [--targets a,b] [--json FILE]
// Seeded mutation fuzzing of every decoder a peer can reach, one worker per
// target (heap limited to 512 MiB, stopped if it makes no progress for 60 s).
import { writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { FuzzReport } from './harness.js';
import { FUZZ_MAX_MESSAGE_BYTES, TARGETS } from './targets.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const inputs = Number(arg('inputs') ?? 1_000_000);
const seed = Number(arg('seed') ?? 20261201);
const only = arg('targets')?.split(',');
const jsonOut = arg('json');
const HEAP_MB = 512;
const STALL_MS = 60_000;

interface Row extends Partial<FuzzReport> {
  target: string;
  crash?: string;
}

function runTarget(name: string): Promise<Row> {
  return new Promise((resolve) => {
    const worker = new Worker(new URL(import.meta.url.endsWith('.mjs') ? './worker.mjs' : './worker.js', import.meta.url), {
      workerData: { target: name, inputs, seed },
      resourceLimits: { maxOldGenerationSizeMb: HEAP_MB },
    });
    let done = 0;
    let last = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - last > STALL_MS) {
        clearInterval(watchdog);
        void worker.terminate();
        resolve({ target: name, inputs: done, crash: `no progress for ${STALL_MS / 1000} s after ${done} inputs (a hang)` });
      }
    }, 1000);
    worker.on('message', (m: { progress?: number; report?: FuzzReport }) => {
      last = Date.now();
      if (m.progress !== undefined) {
        done = m.progress;
        if (process.stderr.isTTY) process.stderr.write(`\r${name}: ${done.toLocaleString('en')} / ${inputs.toLocaleString('en')}`);
      }
      if (m.report !== undefined) {
        clearInterval(watchdog);
        if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
        resolve({ ...m.report });
      }
    });
    worker.on('error', (err) => {
      clearInterval(watchdog);
      resolve({ target: name, inputs: done, crash: `${err.name}: ${err.message}` });
    });
    worker.on('exit', (code) => {
      clearInterval(watchdog);
      resolve({ target: name, inputs: done, crash: `the worker exited with code ${code} after ${done} inputs` });
    });
  });
}

const targets = TARGETS.filter((t) => only === undefined || only.includes(t.name));
console.log(
  `pnpm fuzz: ${inputs.toLocaleString('en')} inputs per decoder, seed ${seed}, maxMessageBytes ${FUZZ_MAX_MESSAGE_BYTES}, heap ${HEAP_MB} MiB per worker`,
);
const rows: Row[] = [];
for (const t of targets) {
  const row = await runTarget(t.name);
  rows.push(row);
  const mb = (row.peakArrayBuffers ?? 0) / 2 ** 20;
  console.log(
    row.crash !== undefined
      ? `${t.name.padEnd(18)} CRASH: ${row.crash}`
      : `${t.name.padEnd(18)} ${String(row.inputs).padStart(9)} inputs  ${String(row.ok).padStart(8)} ok  ${String(row.typed).padStart(8)} typed errors  ${row.untyped} untyped  ${row.overAllocations} over maxMessageBytes  slowest ${row.slowestMs!.toFixed(1)} ms  peak ArrayBuffers ${mb.toFixed(1)} MiB  ${row.seconds!.toFixed(0)} s`,
  );
  if (row.note !== undefined) console.log(`  ${row.note}`);
  for (const f of row.findings ?? []) console.log(`  ${f.kind}: ${f.detail}\n    input: ${f.input.join(' | ').slice(0, 400)}`);
}
if (jsonOut !== undefined) writeFileSync(jsonOut, JSON.stringify({ inputs, seed, rows }, null, 2));
const bad = rows.filter((r) => r.crash !== undefined || (r.untyped ?? 0) > 0 || (r.overAllocations ?? 0) > 0 || (r.findings?.length ?? 0) > 0);
console.log(bad.length === 0 ? 'fuzz: no untyped errors, crashes, hangs or over-allocations' : `fuzz: ${bad.length} decoder(s) with findings`);
process.exit(bad.length === 0 ? 0 : 1);
