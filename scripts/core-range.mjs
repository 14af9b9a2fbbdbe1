// After `changeset version`: changesets rewrites a dependent's core range
// `workspace:>=0.1.0 <1.0.0` to `workspace:>=0.2.0` when core is released
// with it, dropping the upper bound (and so for any @harmonics/* range). Put it back (`<1.0.0` for 0.x, `<N+1.0.0`
// for N.x), so a future core major never satisfies an older transport's range.
// Run by `npm run version-packages`; `--check` only reports.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const check = process.argv.includes('--check');
let bad = 0;
for (const dir of readdirSync('packages').sort()) {
  const file = join('packages', dir, 'package.json');
  if (!existsSync(file)) continue;
  const text = readFileSync(file, 'utf8');
  const pkg = JSON.parse(text);
  let updated = text;
  // core for every package; the other packages too for those that depend on them (@harmonics/cli).
  for (const [dep, range] of Object.entries(pkg.dependencies ?? {})) {
    const m = dep.startsWith('@harmonics/') && typeof range === 'string' ? /^workspace:>=(\d+)\.(\d+)\.(\d+)$/.exec(range) : null;
    if (!m) continue;
    const fixed = `workspace:>=${m[1]}.${m[2]}.${m[3]} <${Number(m[1]) + 1}.0.0`;
    bad++;
    if (check) console.error(`${pkg.name}: ${dep} "${range}" has no upper bound; expected "${fixed}"`);
    else {
      updated = updated.replace(`"${dep}": "${range}"`, `"${dep}": "${fixed}"`);
      console.log(`${pkg.name}: ${dep} ${fixed}`);
    }
  }
  if (!check && updated !== text) writeFileSync(file, updated);
}
process.exit(check && bad > 0 ? 1 : 0);
