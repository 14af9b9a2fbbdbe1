// The packages as users install them: packed as they would be published and
// installed by npm into scratch projects outside the workspace (see README).
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const REPO = resolve(__dirname, '../../..');
const FIXTURES = join(__dirname, 'fixtures');
const TSC = require.resolve('typescript/bin/tsc');
// pnpm: the bootstrap's copy (scripts/bootstrap.sh), else the one on PATH.
const PNPM = existsSync(join(REPO, '.tools/node_modules/.bin/pnpm')) ? join(REPO, '.tools/node_modules/.bin/pnpm') : 'pnpm';
let root = '';
const tarballs: Record<string, string> = {};

function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, stdio: 'pipe', encoding: 'utf8' });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** A scratch project with `deps` (our tarballs by package name, or registry specs) installed by npm. */
function project(name: string, deps: string[], files: Record<string, string>): string {
  const dir = join(root, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  for (const [to, from] of Object.entries(files)) copyFileSync(join(FIXTURES, from), join(dir, to));
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...deps.map((d) => tarballs[d] ?? d)], dir);
  return dir;
}

function tsc(dir: string, compilerOptions: object, files: string[]): string {
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { strict: true, noEmit: true, skipLibCheck: false, ...compilerOptions }, files }),
  );
  try {
    execFileSync(process.execPath, [TSC, '-p', dir], { stdio: 'pipe', encoding: 'utf8' });
    return '';
  } catch (err) {
    return (err as { stdout: string }).stdout;
  }
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'harmonics-user-'));
  const cli = ['cli', 'formats', 'transport-file', 'transport-grpc', 'transport-flight', 'transport-nats'];
  for (const pkg of ['core', 'url', 'transport-net', 'transport-ws', 'transport-worker', ...cli]) {
    run(PNPM, ['pack', '--pack-destination', root], join(REPO, 'packages', pkg));
  }
  for (const f of readdirSync(root)) {
    const m = /^harmonics-(.+)-\d+\.\d+\.\d+.*\.tgz$/.exec(f);
    if (m) tarballs[`@harmonics/${m[1]}`] = join(root, f);
  }
});
afterAll(() => root && rmSync(root, { recursive: true, force: true }));

it('a Node TypeScript project (strict, skipLibCheck: false) type-checks with only what npm installed', () => {
  const dir = project('node-app', ['@harmonics/core', '@harmonics/url', '@harmonics/transport-net', '@harmonics/transport-ws', '@types/node@^20'], {
    'app.ts': 'node-app.ts',
    'errors.mjs': 'bundled-errors.mjs',
  });
  expect(tsc(dir, { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', types: ['node'] }, ['app.ts'])).toBe('');
  // The packages bundle their shared building blocks; errors those copies make are still core's HarmonicsError.
  expect(JSON.parse(run(process.execPath, ['errors.mjs'], dir))).toEqual({ code: 'ERR_ABORTED', instance: true, is: true });
});

it('a browser TypeScript project (lib DOM, no @types/node) gets the browser declarations through the export map', () => {
  const dir = project('web-app', ['@harmonics/core', '@harmonics/transport-ws', '@harmonics/transport-worker'], {
    'page.ts': 'web-page.ts',
    'server.ts': 'web-server-import.ts',
  });
  const browser = {
    module: 'esnext',
    moduleResolution: 'bundler',
    customConditions: ['browser'],
    target: 'es2022',
    lib: ['ES2022', 'DOM'],
    types: [],
  };
  expect(tsc(dir, browser, ['page.ts'])).toBe('');
  expect(tsc(dir, browser, ['server.ts'])).toMatch(
    /server\.ts\(\d+,\d+\): error TS2305: Module '"@harmonics\/transport-ws"' has no exported member 'WebSocketServer'/,
  );
});

it('an app with url and transport-net only bundles with esbuild (node and browser) and the Node bundle runs', async () => {
  const dir = project('bundle-app', ['@harmonics/core', '@harmonics/url', '@harmonics/transport-net'], { 'app.mjs': 'bundle-app.mjs' });
  for (const platform of ['node', 'browser'] as const) {
    const result = await build({
      entryPoints: [join(dir, 'app.mjs')],
      absWorkingDir: dir,
      bundle: true,
      platform,
      format: 'esm',
      target: 'es2022',
      outfile: join(dir, `dist-${platform}.mjs`),
      logLevel: 'silent',
    });
    expect({ platform, errors: result.errors }).toEqual({ platform, errors: [] });
  }
  // The Node bundle imports the installed transport at run time; grpc is not installed.
  const out = JSON.parse(run(process.execPath, ['dist-node.mjs'], dir));
  expect(out.data).toEqual([1, -2, 3]);
  expect(out.code).toBe('ERR_TRANSPORT_NOT_INSTALLED');
  expect(out.message).toMatch(/npm install @harmonics\/transport-grpc/);
});

it('npx harmonics runs from the packed @harmonics/cli: --help, and a convert whose output the user reads back', () => {
  const ours = [
    'core',
    'formats',
    'transport-file',
    'transport-net',
    'transport-grpc',
    'transport-ws',
    'transport-flight',
    'transport-nats',
    'url',
    'cli',
  ];
  const dir = project(
    'cli-user',
    ours.map((p) => `@harmonics/${p}`),
    { 'check.mjs': 'cli-check.mjs' },
  );
  expect(run('npx', ['--no-install', 'harmonics', 'convert', '--help'], dir)).toContain('Usage: harmonics convert');
  run(process.execPath, ['check.mjs', 'write'], dir);
  expect(run('npx', ['--no-install', 'harmonics', 'convert', 'model.safetensors', 'model.npz'], dir)).toMatch(/^convert: 2 tensors, 19 B in/);
  expect(JSON.parse(run(process.execPath, ['check.mjs', 'check'], dir))).toEqual({
    w: { dtype: 'float32', shape: [2, 2], hex: '0000803f000000c000006040' + '0000c07f' },
    b: { dtype: 'int8', shape: [3], hex: 'ff0001' },
  });
}, 300_000);

it('npm pack refuses a manifest with workspace: ranges, saying how to pack; pnpm pack replaces them with real ranges', () => {
  let refused = '';
  try {
    execFileSync('npm', ['pack', '--dry-run'], { cwd: join(REPO, 'packages', 'transport-net'), stdio: 'pipe', encoding: 'utf8' });
  } catch (err) {
    refused = (err as { stderr: string }).stderr;
  }
  expect(refused).toMatch(/@harmonics\/transport-net: refusing to pack: dependencies\.@harmonics\/core is "workspace:[^"]+"/);
  expect(refused).toMatch(/Pack or publish with pnpm/);
  // core has no workspace: ranges: npm packs it.
  expect(run('npm', ['pack', '--dry-run'], join(REPO, 'packages', 'core'))).toMatch(/harmonics-core-\d+\.\d+\.\d+\.tgz/);
  const packed = run('tar', ['-xOzf', tarballs['@harmonics/transport-net'], 'package/package.json'], root);
  const manifest = JSON.parse(packed);
  expect(manifest.dependencies['@harmonics/core']).toMatch(/^>=\d+\.\d+\.\d+ <1\.0\.0$/);
  const installed = { ...manifest.dependencies, ...manifest.peerDependencies, ...manifest.optionalDependencies };
  expect(JSON.stringify(installed)).not.toMatch(/workspace:|@harmonics\/internal/);
});
