// `prepack` of every public package: refuses to pack a manifest that still
// holds `workspace:` ranges, which npm would publish as they are (and nobody
// could install). pnpm pack / pnpm publish / changeset publish replace them
// with real ranges, so under pnpm this passes.
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
// The packing tool: npm_execpath is the CLI running this script (the user agent can be inherited).
const underPnpm = /pnpm/.test(process.env.npm_execpath ?? '');
const workspace = ['dependencies', 'peerDependencies', 'optionalDependencies']
  .flatMap((field) => Object.entries(pkg[field] ?? {}).map(([name, range]) => ({ field, name, range })))
  .filter((d) => String(d.range).startsWith('workspace:'));
if (workspace.length > 0 && !underPnpm) {
  console.error(
    `${pkg.name}: refusing to pack: ${workspace.map((d) => `${d.field}.${d.name} is "${d.range}"`).join(', ')}.\n` +
      `npm would publish these "workspace:" ranges as they are. Pack or publish with pnpm ` +
      `(pnpm pack, pnpm publish, or npm run release), which replaces them with real versions.`,
  );
  process.exit(1);
}
