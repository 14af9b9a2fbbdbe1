// After `changeset version`: changesets rewrites a dependent's core range
// `workspace:>=0.1.0 <1.0.0` to `workspace:>=0.2.0` when core is released
// with it, dropping the upper bound. Put it back (`<1.0.0` for 0.x, `<N+1.0.0`
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
  const range = pkg.dependencies?.['@harmonics/core'];
  const m = typeof range === 'string' ? /^workspace:>=(\d+)\.(\d+)\.(\d+)$/.exec(range) : null;
  if (!m) continue;
  const fixed = `workspace:>=${m[1]}.${m[2]}.${m[3]} <${Number(m[1]) + 1}.0.0`;
  bad++;
  if (check) console.error(`${pkg.name}: @harmonics/core "${range}" has no upper bound; expected "${fixed}"`);
  else {
    writeFileSync(file, text.replace(`"@harmonics/core": "${range}"`, `"@harmonics/core": "${fixed}"`));
    console.log(`${pkg.name}: @harmonics/core ${fixed}`);
  }
}
process.exit(check && bad > 0 ? 1 : 0);
