// A foreign peer in Python (the venv scripts/setup-peers.sh makes), run as a child process
// that talks to the test over its stdin and stdout lines.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, resolve } from 'node:path';
import { createInterface } from 'node:readline';

/** The interpreter: HARMONICS_PYTHON, else the repository's .tools/py venv. */
export const PYTHON = process.env.HARMONICS_PYTHON ?? resolve(__dirname, '../../../.tools/py/bin/python');

/** The directory of the Python helpers the peers share (harmonics_peer_data.py); `pythonPeer` puts it on PYTHONPATH. */
export const PYTHON_HELPERS = resolve(__dirname, '../python');

export interface PythonPeer {
  child: ChildProcess;
  /** The next line the peer printed; undefined once its stdout ended. */
  line(): Promise<string | undefined>;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  exited: Promise<number | null>;
  /** Close its stdin (the peers that serve stop then), wait up to 5 s for it to exit, then kill it. */
  stop(): Promise<void>;
}

/** Throw, saying how to set the peers up, when there is no interpreter: call it before starting what the peer talks to. */
export function requirePython(): void {
  if (!existsSync(PYTHON)) throw new Error(`no Python peer at ${PYTHON}: run scripts/setup-peers.sh (the README's test command does)`);
}

/** Run `script` with `args` (see {@link requirePython}). */
export function pythonPeer(script: string, args: string[]): PythonPeer {
  requirePython();
  const env = { ...process.env, PYTHONPATH: [PYTHON_HELPERS, process.env.PYTHONPATH].filter(Boolean).join(delimiter) };
  const child = spawn(PYTHON, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    child,
    exited,
    stderr: () => stderr,
    line: async () => {
      const r = await lines.next();
      return r.done ? undefined : r.value;
    },
    stop: async () => {
      child.stdin!.end();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
      child.kill();
    },
  };
}
