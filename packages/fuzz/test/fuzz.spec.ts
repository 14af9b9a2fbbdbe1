import { fuzz } from '../src/harness';
import { LANE_ROLES, TARGETS, runOne } from '../src/targets';
import { mutate, prng } from '../src/mutate';
import { differential, laneCorpus } from '../src/ws-lane';
import { fastReceived } from '../../transport-ws/src/fast-receive';

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

const decoders = TARGETS.filter((t) => !t.name.startsWith('ws.lane.'));
const lanes = TARGETS.filter((t) => t.name.startsWith('ws.lane.'));

describe.each(decoders.map((t) => [t.name, t] as const))('%s', (_name, target) => {
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

// Differential: the receive lane of transport-ws against ws itself (a finding is any difference, reported as untyped).
describe.each(lanes.map((t) => [t.name, t] as const))('%s', (_name, target) => {
  it('reports every corpus stream as ws does, whole and cut into chunks', async () => {
    for (const input of target.corpus()) expect(await runOne(target, input)).toBe('ok');
  });

  it(`${INPUTS} seeded random and mutated streams: the lane and ws report the same, and the lane did take frames`, async () => {
    const frames = fastReceived.frames;
    const joined = fastReceived.joined;
    const report = await fuzz(target, { inputs: INPUTS, seed: 20261201, slowMs: 2000, measureMemory: false });
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(INPUTS);
    // Both counts are from the lane's side only: it cut whole frames out of chunks, and joined frames split across chunks.
    expect(fastReceived.frames - frames).toBeGreaterThan(INPUTS / 2);
    expect(fastReceived.joined - joined).toBeGreaterThan(INPUTS / 20);
  });
});

describe('the receive lane, every corpus stream cut at every byte', () => {
  it.each(LANE_ROLES.map((r) => [r.name, r] as const))('%s', async (_name, role) => {
    let streams = 0;
    for (const stream of laneCorpus(role)) {
      if (stream.length > 4096) continue; // the frames at the limits: the random cuts above cover them
      for (let cut = 1; cut < stream.length; cut++) {
        await differential([stream.subarray(0, cut), stream.subarray(cut)], role);
        streams++;
      }
    }
    expect(streams).toBeGreaterThan(1000);
  });
});
