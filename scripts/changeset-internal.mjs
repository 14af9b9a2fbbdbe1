// @harmonics/internal is never published: each package that imports it
// bundles it at build time. So a changeset that names it must release exactly
// those packages. This adds a patch bump for each of them (when the changeset
// does not bump it already) to every pending changeset naming
// @harmonics/internal. `npm run version-packages` runs it before
// `changeset version`; `--check` only reports (exit 1 when a changeset lacks one).
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const INTERNAL = '@harmonics/internal';
const check = process.argv.includes('--check');

const bundlers = [];
for (const group of ['packages', 'examples']) {
  for (const dir of readdirSync(group).sort()) {
    const file = join(group, dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8'));
    const deps = { ...pkg.dependencies, ...pkg.devDependencies };
    if (!pkg.private && deps[INTERNAL] !== undefined) bundlers.push(pkg.name);
  }
}

let missing = 0;
for (const name of readdirSync('.changeset').filter((f) => f.endsWith('.md') && f !== 'README.md')) {
  const path = join('.changeset', name);
  const text = readFileSync(path, 'utf8');
  const m = /^---\n([\s\S]*?)\n---\n/.exec(text);
  if (!m) continue;
  const named = new Set([...m[1].matchAll(/^["']?([^"':\s]+)["']?\s*:/gm)].map((x) => x[1]));
  if (!named.has(INTERNAL)) continue;
  const add = bundlers.filter((b) => !named.has(b));
  if (add.length === 0) continue;
  missing += add.length;
  if (check) {
    console.error(`${path} names ${INTERNAL} but not ${add.join(', ')}, which bundle it`);
    continue;
  }
  const front = m[1] + add.map((b) => `\n"${b}": patch`).join('');
  writeFileSync(path, text.replace(m[1], front));
  console.log(`${path}: + patch for ${add.join(', ')} (they bundle ${INTERNAL})`);
}
process.exit(check && missing > 0 ? 1 : 0);
