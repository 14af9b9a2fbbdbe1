import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A project that installed @harmonics/url and @harmonics/core only (the built
// packages, as npm would lay them out), asking for schemes whose transport it lacks.
let project: string;
beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'harmonics-url-alone-'));
  const scope = join(project, 'node_modules', '@harmonics');
  mkdirSync(join(scope, 'url'), { recursive: true });
  cpSync(join(__dirname, '..', 'dist'), join(scope, 'url', 'dist'), { recursive: true });
  cpSync(join(__dirname, '..', 'package.json'), join(scope, 'url', 'package.json'));
  symlinkSync(join(__dirname, '..', '..', 'core'), join(scope, 'core'), 'dir');
  writeFileSync(
    join(project, 'try.mjs'),
    `const { makeProducer, makeConsumer } = process.argv[2] === 'cjs' ? (await import('node:module')).createRequire(import.meta.url)('@harmonics/url') : await import('@harmonics/url');
const out = [];
for (const target of process.argv.slice(3)) {
  try {
    await (target.startsWith('>') ? makeConsumer(target.slice(1)) : makeProducer(target));
    out.push({ target, code: 'resolved' });
  } catch (err) {
    out.push({ target, code: err.code, message: err.message });
  }
}
console.log(JSON.stringify(out));
`,
  );
});
afterAll(() => rmSync(project, { recursive: true, force: true }));

function attempt(format: 'esm' | 'cjs', targets: string[]): { target: string; code: string; message: string }[] {
  return JSON.parse(execFileSync(process.execPath, [join(project, 'try.mjs'), format, ...targets], { cwd: project, encoding: 'utf8' }));
}

const CASES: [string, string][] = [
  ['tcp:127.0.0.1:9000', '@harmonics/transport-net'],
  ['>unix:/tmp/x.sock', '@harmonics/transport-net'],
  ['socket:3', '@harmonics/transport-net'],
  ['file:out.bin', '@harmonics/transport-file'],
  ['>grpc:127.0.0.1:50051', '@harmonics/transport-grpc'],
  ['ws://127.0.0.1:8080/t', '@harmonics/transport-ws'],
  ['flight:127.0.0.1:8815/tensors', '@harmonics/transport-flight'],
];

describe.each(['esm', 'cjs'] as const)('without the transport packages (%s)', (format) => {
  it('each scheme fails with ERR_TRANSPORT_NOT_INSTALLED naming the package to install', () => {
    const results = attempt(
      format,
      CASES.map(([t]) => t),
    );
    results.forEach((r, i) => {
      const pkg = CASES[i]![1];
      expect({ target: r.target, code: r.code }).toEqual({ target: CASES[i]![0], code: 'ERR_TRANSPORT_NOT_INSTALLED' });
      expect(r.message).toContain(`npm install ${pkg}`);
    });
  });

  it('a malformed target is still ERR_UNSUPPORTED_SCHEME, before any import', () => {
    expect(attempt(format, ['tcp:127.0.0.1', 'nope:1']).map((r) => r.code)).toEqual(['ERR_UNSUPPORTED_SCHEME', 'ERR_UNSUPPORTED_SCHEME']);
  });
});
