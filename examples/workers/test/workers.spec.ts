import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// Runs examples/workers as a user would (node main.mjs …), with small inputs.
function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(__dirname, '..', 'main.mjs'), ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The table's rows: [layer, link, tensors]. */
function rows(stdout: string): [string, string, number][] {
  return stdout
    .split('\n')
    .filter((line) => /^\d+\s+l\d\s+(ring|port)\s+\d+/.test(line))
    .map((line) => {
      const cells = line.trim().split(/\s+/);
      return [cells[1]!, cells[2]!, Number(cells[3])];
    });
}

describe('examples/workers', () => {
  it.each(['ring', 'port'])('one layer a worker thread, joined by %s links, matches the single-thread forward pass bit for bit', (link) => {
    const r = run('--link', link, '--tensors', '16', '--rows', '4');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(rows(r.stdout)).toEqual(['l1', 'l2', 'l3', 'l4'].map((l) => [l, link, 16]));
    expect(r.stdout).toContain('OK: the output of 16 tensors through 4 worker threads matches the single-thread forward pass bit for bit');
  });

  it('bad arguments exit 2 with what to do', () => {
    const r = run('--link', 'pigeon');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--link is ring or port, got pigeon');
  });
});
