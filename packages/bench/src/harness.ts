import { type ChildProcess, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

/** One printed/JSON row: `value` and `baselineValue` are medians over `runs`. */
export interface BenchRow {
  name: string;
  unit: string;
  value: number;
  baseline: string;
  baselineValue: number;
  ratio: number;
  runs: number;
  min: number;
  max: number;
  note?: string;
}

/** A timed body: does `iterations` units of work, returns how many units (e.g. bytes or ops) it did. */
export type Body = (iterations: number) => number | Promise<number>;

export interface Case {
  name: string;
  unit: 'MB/s' | 'ops/s' | 'tensors/s';
  /** What the baseline is, in words. */
  baseline: string;
  subject: Body;
  reference: Body;
  /** Iterations per timed batch. */
  iterations: number;
  runs?: number;
  note?: string;
  /** The bodies return a rate (units per second) they timed themselves, not a count of units. */
  rate?: boolean;
  setup?: () => Promise<void>;
  teardown?: () => Promise<void>;
}

/** A full GC when node runs with --expose-gc (pnpm bench does). */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function timeOnce(body: Body, iterations: number, unit: Case['unit'], rate = false): Promise<number> {
  const t0 = performance.now();
  const units = await body(iterations);
  if (rate) return unit === 'MB/s' ? units / 1e6 : units;
  const seconds = (performance.now() - t0) / 1000;
  return unit === 'MB/s' ? units / 1e6 / seconds : units / seconds;
}

/**
 * Run subject and baseline alternately (in alternating order), `runs` times
 * each after a warm-up, so both see the same machine load; report medians and
 * their ratio.
 */
export async function runCase(c: Case): Promise<BenchRow> {
  const runs = c.runs ?? 7;
  await c.setup?.();
  try {
    await timeOnce(c.reference, Math.max(1, c.iterations >> 2), c.unit, c.rate);
    await timeOnce(c.subject, Math.max(1, c.iterations >> 2), c.unit, c.rate);
    const subject: number[] = [];
    const reference: number[] = [];
    for (let r = 0; r < runs; r++) {
      // Alternate which goes first, and start each from a collected heap, so
      // neither side pays for the other's garbage.
      const order = r % 2 === 0 ? ['reference', 'subject'] : ['subject', 'reference'];
      for (const side of order) {
        collectGarbage();
        if (side === 'reference') reference.push(await timeOnce(c.reference, c.iterations, c.unit, c.rate));
        else subject.push(await timeOnce(c.subject, c.iterations, c.unit, c.rate));
      }
    }
    // BENCH_RUNS=1 shows every run, to judge the noise behind a median.
    if (process.env.BENCH_RUNS) console.error(`${c.name}: runs ${subject.map(fmt).join(' ')}; baseline ${reference.map(fmt).join(' ')}`);
    const value = median(subject);
    const baselineValue = median(reference);
    return {
      name: c.name,
      unit: c.unit,
      value,
      baseline: c.baseline,
      baselineValue,
      ratio: value / baselineValue,
      runs,
      min: Math.min(...subject),
      max: Math.max(...subject),
      ...(c.note ? { note: c.note } : {}),
    };
  } finally {
    await c.teardown?.();
  }
}

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(1);
}

export function printRow(r: BenchRow): void {
  console.log(
    `${r.name.padEnd(30)} ${fmt(r.value).padStart(9)} ${r.unit.padEnd(9)} ${fmt(r.baselineValue).padStart(9)}  ${r.ratio.toFixed(2).padStart(7)}x  ${r.baseline}${r.note ? `  (${r.note})` : ''}`,
  );
}

export function printHeader(): void {
  console.log(`${'row'.padEnd(30)} ${'median'.padStart(9)} ${'unit'.padEnd(9)} ${'baseline'.padStart(9)}  ${'ratio'.padStart(8)}  baseline is`);
}

/** Keeps results alive so the engine cannot drop the work. */
export const sink = { value: 0 };

/** A peer process of a two-process row: its stdout read line by line. */
export interface Peer {
  /** The next line it prints; rejects if it exits first. */
  line(): Promise<string>;
  /** Resolves when it exits with 0, rejects otherwise. */
  exited: Promise<void>;
  child: ChildProcess;
}

export function spawnPeer(name: string, cmd: string, args: string[], stdin: 'ignore' | 'pipe' = 'ignore'): Peer {
  const child = spawn(cmd, args, { stdio: [stdin, 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${name} ${args.join(' ')} exited with ${code}`)))),
  );
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const line = async (): Promise<string> => {
    const r = await Promise.race([lines.next(), exited.then(() => ({ done: true, value: '' }))]);
    if (r.done) throw new Error(`${name} ${args.join(' ')} ended early`);
    return String(r.value).trim();
  };
  return { line, exited, child };
}
