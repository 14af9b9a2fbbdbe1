import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// Runs examples/scale-out as a user would (node main.mjs …): it starts its own nats-server
// (scripts/setup-peers.sh installs it) and three worker processes, and kills one mid-run.
function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(__dirname, '..', 'main.mjs'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('examples/scale-out', () => {
  it('three workers share the middle stage on a JetStream work queue; one is killed; every output exactly once, bit-exact', () => {
    const r = run('--tensors', '90', '--rows', '8');
    expect({ status: r.status, stderr: r.stderr, stdout: r.status === 0 ? '' : r.stdout }).toEqual({ status: 0, stderr: '', stdout: '' });
    const table = r.stdout.split('\n').filter((line) => /^w\d\s+\d+/.test(line));
    expect(table).toHaveLength(3);
    const answered = table.map((line) => Number(line.trim().split(/\s+/)[1]));
    expect(table.filter((line) => line.includes('killed (SIGKILL) mid-run'))).toHaveLength(1);
    expect(table.filter((line) => line.includes('ended with the stream'))).toHaveLength(2);
    // A killed worker's input is answered again by another: at least one answer per input.
    expect(answered.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(90);
    expect(answered.every((n) => n > 0)).toBe(true);
    expect(r.stdout).toMatch(/OK: 90 outputs, each exactly once, match the single-process forward pass bit for bit; worker w\d was killed mid-run/);
  });

  it('bad arguments exit 2 with what to do', () => {
    const r = run('--workers', '1');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--workers must be a whole number ≥ 2 (one is killed), got 1');
  });
});
