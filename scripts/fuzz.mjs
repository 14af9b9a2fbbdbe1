// pnpm fuzz: bundle packages/fuzz (its sources, and the decoders' sources it
// imports) with esbuild and run it; arguments go to packages/fuzz/src/cli.ts.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

const outdir = '.tools/fuzz';
mkdirSync(outdir, { recursive: true });
await build({
  entryPoints: ['packages/fuzz/src/cli.ts', 'packages/fuzz/src/worker.ts'],
  outdir,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outExtension: { '.js': '.mjs' },
  // ws's optional native helpers: loaded if present, as in a user's install.
  external: ['bufferutil', 'utf-8-validate'],
  banner: { js: "import { createRequire as __harmonicsRequire } from 'node:module'; const require = __harmonicsRequire(import.meta.url);" },
  logLevel: 'warning',
});
const run = spawnSync(process.execPath, [`${outdir}/cli.mjs`, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(run.status ?? 1);
