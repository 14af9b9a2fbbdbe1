import { fuzz } from '../src/harness';
import { TARGETS, runOne } from '../src/targets';
import { mutate, prng } from '../src/mutate';

// The short seeded slice CI runs; `pnpm fuzz` runs a million inputs per decoder.
const INPUTS = Number(process.env.HARMONICS_FUZZ_INPUTS ?? 3000);

describe('mutation', () => {
  it('is deterministic for a seed and changes the input', () => {
    const input = Uint8Array.from({ length: 64 }, (_, i) => i);
    const a = Array.from({ length: 50 }, (_, i) => mutate(input, prng(i)));
    const b = Array.from({ length: 50 }, (_, i) => mutate(input, prng(i)));
    expect(a).toEqual(b);
    expect(a.filter((m) => Buffer.compare(Buffer.from(m), Buffer.from(input)) !== 0).length).toBeGreaterThan(45);
    expect(Array.from(input)).toEqual(Array.from({ length: 64 }, (_, i) => i)); // never modified
  });
});

describe.each(TARGETS.map((t) => [t.name, t] as const))('%s', (_name, target) => {
  it('decodes every input of its corpus', async () => {
    for (const input of target.corpus()) expect(await runOne(target, input)).toBe('ok');
  });

  it(`${INPUTS} seeded mutated inputs: only typed errors, nothing held beyond maxMessageBytes, none slow`, async () => {
    const report = await fuzz(target, { inputs: INPUTS, seed: 20261201, slowMs: 2000 });
    expect(report.findings).toEqual([]);
    expect(report.untyped).toBe(0);
    expect(report.typed).toBeGreaterThan(INPUTS / 20); // the mutations do reach the error paths
    expect(report.ok + report.typed).toBe(INPUTS);
  });
});
