// Manifest checks for every public package, on what `pnpm pack` would publish:
// publint (exports map, files, types first) and arethetypeswrong (types
// resolve for ESM and CJS consumers under node16 and bundler resolution; the
// legacy node10 resolution cannot see `exports` subpaths such as
// @harmonics/core/internal, which only our own packages use); no dependency pinned to one version.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Packed by pnpm, as they are published (pnpm turns workspace: ranges into real ones; npm pack refuses them).
const packs = mkdtempSync(join(tmpdir(), 'harmonics-packs-'));
process.on('exit', () => rmSync(packs, { recursive: true, force: true }));
function pack(dir) {
  const out = execFileSync('pnpm', ['pack', '--pack-destination', packs], { cwd: dir, encoding: 'utf8' });
  return out.trim().split('\n').at(-1);
}

let failures = 0;
for (const dir of readdirSync('packages').sort()) {
  const manifest = join('packages', dir, 'package.json');
  if (!existsSync(manifest)) continue;
  const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
  if (pkg.private) continue;
  const before = failures;
  const tarball = pack(join('packages', dir));
  for (const [tool, args] of [
    ['publint', ['--strict', '--pack', 'pnpm']],
    ['attw', [tarball, '--profile', 'node16', '--format', 'ascii']],
  ]) {
    try {
      execFileSync('pnpm', ['exec', tool, ...args], { cwd: join('packages', dir), stdio: 'pipe' });
    } catch (err) {
      failures++;
      console.error(`✗ ${pkg.name}: ${tool} found problems:\n${err.stdout}${err.stderr}`);
    }
  }
  // What npm shows: a README whose links work from npmjs.com (absolute or #anchors), a
  // manifest that says where the code lives, and a LICENSE in the tarball.
  const readme = readFileSync(join('packages', dir, 'README.md'), 'utf8');
  const relative = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((href) => !/^(https?:|#)/.test(href));
  if (relative.length > 0) {
    failures++;
    console.error(`✗ ${pkg.name}: README links that npm readers cannot follow (make them absolute): ${relative.join(', ')}`);
  }
  const missing = ['repository', 'homepage', 'bugs', 'license'].filter((k) => !pkg[k]);
  if (!existsSync(join('packages', dir, 'LICENSE'))) missing.push('LICENSE file');
  if (pkg.scripts?.prepack !== 'node ../../scripts/prepack-guard.mjs') missing.push('the prepack guard');
  if (missing.length > 0) {
    failures++;
    console.error(`✗ ${pkg.name}: package.json lacks ${missing.join(', ')}`);
  }
  // Ranges, not pins (issue #17): users dedupe against our dependencies and get their fixes without a release of ours.
  const pinned = ['dependencies', 'peerDependencies', 'optionalDependencies'].flatMap((field) =>
    Object.entries(pkg[field] ?? {})
      .filter(([, range]) => /^=?\d+\.\d+\.\d+(-[\w.]+)?$/.test(range))
      .map(([name, range]) => `${name}@${range} (${field})`),
  );
  if (pinned.length > 0) {
    failures++;
    console.error(`✗ ${pkg.name}: dependencies pinned to one version (use a range): ${pinned.join(', ')}`);
  }
  if (failures === before)
    console.log(`✓ ${pkg.name}: publint and arethetypeswrong are clean; README links, manifest and LICENSE are complete; no pinned dependency`);
}
process.exit(failures ? 1 : 0);
