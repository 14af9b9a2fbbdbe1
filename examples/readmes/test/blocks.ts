// Finds the ```ts blocks of the repository's READMEs and how each one runs.
//
// A block runs on its own, as a user would copy it, unless the HTML comment on
// the line right before its fence says otherwise (invisible on npm and GitHub):
//
//   <!-- readme-run: group=NAME listens=PORT until=signal with=peers/a.mjs,peers/b.mjs
//                    stdin=PATH stdout=PATH jest -->
//
// - group:   blocks with the same group run together, each in its own process
//            (a multi-process example: "process A", "process B").
// - listens: the process listens on this TCP port; it starts before the
//            others, which start once the port is listening.
// - until=signal: a server that runs until SIGTERM; it gets one once every
//            other process of the group has exited, and must then exit 0.
// - with:    helper programs (paths relative to examples/readmes/) started
//            with the group; their first line may carry the same keys after
//            `// readme-run:`.
// - stdin / stdout: a file (relative to the repository) fed to stdin / that
//            stdout must equal byte for byte.
// - jest:    a test-suite example, run by jest.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO = resolve(__dirname, '../../..');
export const HERE = resolve(__dirname, '..');

export interface RunOptions {
  group?: string;
  listens?: number;
  untilSignal: boolean;
  with: string[];
  stdin?: string;
  stdout?: string;
  jest: boolean;
}

export interface Block extends RunOptions {
  /** README path relative to the repository. */
  readme: string;
  /** 1-based number of the ```ts block in its README. */
  index: number;
  /** Line of the opening fence, 1-based. */
  line: number;
  code: string;
  /** A file-name-safe id, e.g. `packages_transport-net_README_md_1`. */
  id: string;
}

export function readmePaths(): string[] {
  const out = ['README.md'];
  for (const group of ['packages', 'examples']) {
    for (const dir of readdirSync(join(REPO, group)).sort()) {
      const p = join(group, dir, 'README.md');
      if (existsSync(join(REPO, p))) out.push(p);
    }
  }
  return out;
}

export function parseRunOptions(text: string, where: string): RunOptions {
  const o: RunOptions = { untilSignal: false, with: [], jest: false };
  for (const word of text.trim().split(/\s+/).filter(Boolean)) {
    const [key, value] = word.split('=', 2);
    if (key === 'group' && value) o.group = value;
    else if (key === 'listens' && /^\d+$/.test(value ?? '')) o.listens = Number(value);
    else if (key === 'until' && value === 'signal') o.untilSignal = true;
    else if (key === 'with' && value) o.with = value.split(',');
    else if (key === 'stdin' && value) o.stdin = value;
    else if (key === 'stdout' && value) o.stdout = value;
    else if (key === 'jest' && value === undefined) o.jest = true;
    else throw new Error(`${where}: unknown readme-run word ${JSON.stringify(word)}`);
  }
  return o;
}

export function readmeBlocks(): Block[] {
  const blocks: Block[] = [];
  for (const readme of readmePaths()) {
    const lines = readFileSync(join(REPO, readme), 'utf8').split('\n');
    let index = 0;
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() !== '```ts') continue;
      const end = lines.findIndex((l, j) => j > i && l.trim() === '```');
      if (end < 0) throw new Error(`${readme}:${i + 1}: unclosed code block`);
      index++;
      const where = `${readme}:${i + 1}`;
      const note = /^<!--\s*readme-run:(.*)-->\s*$/.exec(lines[i - 1] ?? '');
      blocks.push({
        readme,
        index,
        line: i + 1,
        code: lines.slice(i + 1, end).join('\n') + '\n',
        id: `${readme.replace(/[/.]/g, '_')}_${index}`,
        ...parseRunOptions(note?.[1] ?? '', where),
      });
      i = end;
    }
  }
  return blocks;
}

/** Blocks that run together: a group, or a block on its own. */
export function runGroups(blocks: Block[]): Block[][] {
  const groups = new Map<string, Block[]>();
  for (const b of blocks) {
    const key = b.group !== undefined ? `${b.readme}#${b.group}` : b.id;
    groups.set(key, [...(groups.get(key) ?? []), b]);
  }
  return [...groups.values()];
}

/** The run options a helper program states on its first line (`// readme-run: …`). */
export function helperOptions(path: string): RunOptions {
  const first = readFileSync(path, 'utf8').split('\n', 1)[0];
  const m = /^\/\/\s*readme-run:(.*)$/.exec(first);
  return parseRunOptions(m?.[1] ?? '', path);
}
