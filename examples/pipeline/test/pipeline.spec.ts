import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// Runs the README's main job as a user would (node main.mjs …), with small inputs.
function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(__dirname, '..', 'main.mjs'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The table's rows: hop number → [medium, tensors]. */
function rows(stdout: string): [string, number][] {
  return stdout
    .split('\n')
    .filter((line) => /^\d+\s+\w+\s+\S+ → \S+/.test(line))
    .map((line) => {
      const cells = line.split(/\s+/);
      return [cells[1]!, Number(cells[5])];
    });
}

describe('examples/pipeline', () => {
  it('the default chain file → tcp → grpc → ws → flight → file matches the single-process forward pass bit for bit', () => {
    const r = run('--tensors', '12', '--rows', '4');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(rows(r.stdout)).toEqual([
      ['file', 12],
      ['tcp', 12],
      ['grpc', 12],
      ['ws', 12],
      ['flight', 12],
      ['file', 12],
    ]);
    expect(r.stdout).toContain('OK: the distributed output of 12 tensors matches the single-process forward pass bit for bit');
  });

  it('every hop kind, a file hop in the middle and a relay stage, one tensor in flight per hop (--window 1)', () => {
    const r = run('--hops', 'tcp,unix,file,grpc,ws,tcp', '--tensors', '6', '--rows', '3', '--window', '1');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(rows(r.stdout).map(([medium]) => medium)).toEqual(['tcp', 'unix', 'file', 'grpc', 'ws', 'tcp']);
    expect(r.stdout).toMatch(/s0:relay/);
    expect(r.stdout).toContain('OK: the distributed output of 6 tensors matches');
  });

  it('one flipped bit in one stage is caught: exit 1, MISMATCH', () => {
    const r = run('--tensors', '5', '--rows', '2', '--fault', '2');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('MISMATCH: 1 of 5 outputs differ from the single-process forward pass');
    expect(r.stdout).not.toContain('OK:');
  });

  it('flight as the first and the last hop: the coordinator feeds and reads Arrow Flight streams', () => {
    const r = run('--hops', 'flight,grpc,flight', '--tensors', '7', '--rows', '3');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(rows(r.stdout)).toEqual([
      ['flight', 7],
      ['grpc', 7],
      ['flight', 7],
    ]);
    expect(r.stdout).toContain('OK: the distributed output of 7 tensors matches');
  });

  it('worker hops: the first and the last stage run in worker threads of the coordinator, joined by message ports', () => {
    const r = run('--hops', 'worker,tcp,worker', '--tensors', '8', '--rows', '3');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(rows(r.stdout)).toEqual([
      ['worker', 8],
      ['tcp', 8],
      ['worker', 8],
    ]);
    expect(r.stdout).toMatch(/main → s0:l1\+l2\(thread\)/);
    expect(r.stdout).toContain('through 0 stage processes and 2 stage threads');
    expect(r.stdout).toContain('OK: the distributed output of 8 tensors matches');
  });

  it('bad arguments exit 2 with a usage hint', () => {
    for (const args of [
      ['--hops', 'tcp,carrier-pigeon'],
      ['--hops', 'tcp'],
      ['--tensors', '0'],
      ['--window', '0'],
      ['--fault', '9'],
      ['--hops', 'tcp,worker,tcp'],
    ]) {
      const r = run(...args);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^error: .*\nrun with --help for usage/);
    }
  });
});
