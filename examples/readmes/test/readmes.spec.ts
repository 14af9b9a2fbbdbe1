// Every ```ts block of every README type-checks against the built packages
// and runs to completion, as a user who copies it would run it: compiled on
// its own, imported through the packages' export maps (their dist), in a
// fresh working directory, within a time limit. Multi-process examples run
// their processes together (see blocks.ts for the readme-run notes).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transformSync } from 'esbuild';
import { type Block, HERE, REPO, helperOptions, readmeBlocks, runGroups } from './blocks';

const OUT = join(HERE, 'run-out');
const GROUP_LIMIT_MS = 60_000;
const blocks = readmeBlocks();

beforeAll(() => {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  for (const b of blocks) {
    writeFileSync(join(OUT, `${b.id}${b.jest ? '.spec' : ''}.ts`), `// ${b.readme}, block ${b.index} (line ${b.line})\n${b.code}export {};\n`);
    if (!b.jest) {
      const js = transformSync(b.code, { loader: 'ts', format: 'esm', target: 'node20', sourcefile: `${b.readme}:${b.line}` });
      writeFileSync(join(OUT, `${b.id}.mjs`), js.code);
    }
  }
  writeFileSync(
    join(OUT, 'tsconfig.json'),
    JSON.stringify({
      extends: '../../../tsconfig.base.json',
      compilerOptions: { noEmit: true, types: ['node', 'jest'], noUnusedLocals: false },
      include: ['*.ts'],
    }),
  );
});

it('the READMEs have code blocks, and every one has a run', () => {
  expect(blocks.length).toBeGreaterThanOrEqual(15);
  const run = new Set(runGroups(blocks).flat());
  expect(blocks.filter((b) => !run.has(b))).toEqual([]);
});

it('every README code block type-checks against the built packages (their .d.ts)', () => {
  try {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(OUT, 'tsconfig.json')], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`README code blocks do not type-check:\n${(err as { stdout: Buffer }).stdout}`);
  }
});

interface Proc {
  label: string;
  file: string;
  listens?: number;
  untilSignal: boolean;
  stdin?: string;
  stdout?: string;
}

for (const group of runGroups(blocks)) {
  const first = group[0];
  const title = `${first.readme} block${group.length > 1 ? 's' : ''} ${group.map((b) => b.index).join(' + ')}`;
  if (first.jest) {
    it(`${title} runs as a jest suite and passes`, () => runJest(first));
    continue;
  }
  it(`${title} run${group.length > 1 ? '' : 's'} to completion`, async () => {
    const procs: Proc[] = [];
    for (const b of group) {
      for (const helper of b.with) {
        const file = join(HERE, helper);
        procs.push({ label: helper, file, ...helperOptions(file) });
      }
    }
    for (const b of group) procs.push({ label: `${b.readme}:${b.line}`, file: join(OUT, `${b.id}.mjs`), ...b });
    await runTogether(procs);
  });
}

function runJest(b: Block): void {
  const results = join(OUT, `${b.id}.results.json`);
  try {
    execFileSync(
      process.execPath,
      [
        require.resolve('jest/bin/jest'),
        '--ci',
        '--testMatch',
        '**/run-out/*.spec.ts',
        '--json',
        '--outputFile',
        results,
        join(OUT, `${b.id}.spec.ts`),
      ],
      { cwd: HERE, stdio: 'pipe' },
    );
  } catch (err) {
    throw new Error(`${b.readme}:${b.line} failed under jest:\n${(err as { stderr: Buffer }).stderr}`);
  }
  const r = JSON.parse(readFileSync(results, 'utf8'));
  expect({ failed: r.numFailedTests, passed: r.numPassedTests > 0 }).toEqual({ failed: 0, passed: true });
}

/** Starts listeners first (each once the previous one listens), then the rest; SIGTERMs `until=signal` servers last. */
async function runTogether(procs: Proc[]): Promise<void> {
  const cwd = mkdtempSync(join(tmpdir(), 'readme-run-'));
  const running: { p: Proc; child: ChildProcess; exit: Promise<number | null>; out: Buffer[]; err: string[] }[] = [];
  const deadline = Date.now() + GROUP_LIMIT_MS;
  const report = () =>
    running.map((r) => `--- ${r.p.label} (exit ${r.child.exitCode ?? r.child.signalCode ?? 'still running'})\n${r.err.join('')}`).join('\n');
  const start = (p: Proc) => {
    const child = spawn(process.execPath, [p.file], { cwd, stdio: [p.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const r = {
      p,
      child,
      out: [] as Buffer[],
      err: [] as string[],
      exit: new Promise<number | null>((res) => child.on('close', (code) => res(code))),
    };
    child.stdout!.on('data', (d: Buffer) => r.out.push(d));
    child.stderr!.on('data', (d: Buffer) => r.err.push(d.toString()));
    if (p.stdin) child.stdin!.end(readFileSync(join(REPO, p.stdin)));
    running.push(r);
    return r;
  };
  try {
    for (const p of procs.filter((q) => q.listens !== undefined)) {
      const r = start(p);
      const startedAt = Date.now();
      while (!isListening(p.listens!, startedAt)) {
        if (r.child.exitCode !== null || Date.now() > deadline) throw new Error(`${p.label} never listened on port ${p.listens}\n${report()}`);
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    for (const p of procs.filter((q) => q.listens === undefined)) start(p);
    const within = <T>(what: Promise<T>) =>
      Promise.race([
        what,
        new Promise<'timeout'>((res) => (setTimeout(res, Math.max(0, deadline - Date.now())) as unknown as NodeJS.Timeout).unref()),
      ]);
    const finishers = running.filter((r) => !r.p.untilSignal);
    if ((await within(Promise.all(finishers.map((r) => r.exit)))) === 'timeout') {
      throw new Error(`did not run to completion within ${GROUP_LIMIT_MS / 1000} s\n${report()}`);
    }
    for (const r of running.filter((q) => q.p.untilSignal)) r.child.kill('SIGTERM');
    if ((await within(Promise.all(running.map((r) => r.exit)))) === 'timeout') {
      throw new Error(`a server did not exit after SIGTERM\n${report()}`);
    }
    const failed = running.filter((r) => r.child.exitCode !== 0);
    if (failed.length > 0) throw new Error(`exited with an error\n${report()}`);
    for (const r of running.filter((q) => q.p.stdout)) {
      const want = readFileSync(join(REPO, r.p.stdout!));
      expect({ label: r.p.label, same: Buffer.compare(Buffer.concat(r.out), want) === 0 }).toEqual({ label: r.p.label, same: true });
    }
  } finally {
    for (const r of running) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    await Promise.all(running.map((r) => r.exit));
    rmSync(cwd, { recursive: true, force: true });
  }
}

/** Whether something listens on this TCP port, from /proc/net/tcp{,6} (no connection made: it could be taken as a peer). */
function isListening(port: number, startedAt: number): boolean {
  // Without /proc (macOS), give a listener two seconds.
  if (!existsSync('/proc/net/tcp')) return Date.now() - startedAt > 2000;
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[1]?.endsWith(`:${hex}`) && cols[3] === '0A') return true;
    }
  }
  return false;
}
