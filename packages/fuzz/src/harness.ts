// Runs one target: seeded inputs, each classified; counts, the slowest input, and the findings.
import { FUZZ_MAX_MESSAGE_BYTES, type FuzzTarget, runOne } from './targets.js';
import { prng } from './mutate.js';

export interface Finding {
  kind: 'untyped' | 'alloc' | 'slow';
  input: string[];
  detail: string;
}

export interface FuzzReport {
  target: string;
  inputs: number;
  ok: number;
  typed: number;
  untyped: number;
  /** Inputs after which more than maxMessageBytes of ArrayBuffer memory was held. */
  overAllocations: number;
  slowestMs: number;
  peakArrayBuffers: number;
  findings: Finding[];
  seconds: number;
  /** The target's own summary, if it has one. */
  note?: string;
}

export interface FuzzOptions {
  inputs: number;
  seed: number;
  /** An input slower than this is a finding. Default 1000 ms. */
  slowMs?: number;
  /** Called every `every` inputs with the count so far. */
  progress?: (done: number) => void;
  every?: number;
  /** Measure ArrayBuffer memory around each input (slower; default true). */
  measureMemory?: boolean;
}

const hex = (input: Uint8Array[]): string[] => input.map((b) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex'));
const SLACK = 256 * 1024;

export async function fuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzReport> {
  const rng = prng(options.seed ^ hashName(target.name));
  const corpus = target.corpus();
  const slowMs = options.slowMs ?? 1000;
  const measure = (options.measureMemory ?? true) && target.measureMemory !== false;
  const report: FuzzReport = {
    target: target.name,
    inputs: 0,
    ok: 0,
    typed: 0,
    untyped: 0,
    overAllocations: 0,
    slowestMs: 0,
    peakArrayBuffers: 0,
    findings: [],
    seconds: 0,
  };
  const started = performance.now();
  // The valid inputs first: each must decode.
  for (const input of corpus) {
    const outcome = await runOne(target, input);
    if (outcome !== 'ok') report.findings.push({ kind: 'untyped', input: hex(input), detail: `a valid input failed: ${describe(outcome)}` });
  }
  for (let i = 0; i < options.inputs; i++) {
    let input = corpus[Math.floor(rng() * corpus.length)];
    input = target.mutateInput(input, rng);
    if (rng() < 0.25) input = target.mutateInput(input, rng);
    const before = measure ? process.memoryUsage().arrayBuffers : 0;
    const t0 = performance.now();
    const outcome = await runOne(target, input);
    const ms = performance.now() - t0;
    if (measure) {
      const after = process.memoryUsage().arrayBuffers;
      if (after > report.peakArrayBuffers) report.peakArrayBuffers = after;
      if (after - before > FUZZ_MAX_MESSAGE_BYTES + SLACK) {
        report.overAllocations++;
        if (report.findings.length < 20) report.findings.push({ kind: 'alloc', input: hex(input), detail: `${after - before} bytes held after it` });
      }
    }
    report.inputs++;
    if (ms > report.slowestMs) report.slowestMs = ms;
    if (ms > slowMs && report.findings.length < 20) report.findings.push({ kind: 'slow', input: hex(input), detail: `${ms.toFixed(0)} ms` });
    if (outcome === 'ok') report.ok++;
    else if (outcome === 'typed') report.typed++;
    else {
      report.untyped++;
      if (report.findings.length < 20) report.findings.push({ kind: 'untyped', input: hex(input), detail: describe(outcome) });
    }
    if (options.progress && (i + 1) % (options.every ?? 10_000) === 0) options.progress(i + 1);
  }
  report.seconds = (performance.now() - started) / 1000;
  report.note = target.summary?.();
  return report;
}

function describe(outcome: unknown): string {
  if (typeof outcome === 'object' && outcome !== null && 'untyped' in outcome) {
    const e = (outcome as { untyped: unknown }).untyped;
    return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
  return String(outcome);
}

function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}
