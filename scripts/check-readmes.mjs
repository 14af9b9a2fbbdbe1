// Type-check every ```ts block of the READMEs against the packages, so the
// examples users copy keep compiling. Blocks go into packages/bench/.readme/
// (the bench depends on every package), one module per block; tsc checks them.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const out = 'packages/bench/.readme';
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const readmes = ['README.md', ...readdirSync('packages').map((d) => join('packages', d, 'README.md'))].filter(existsSync);
const files = [];
for (const readme of readmes) {
  const blocks = [...readFileSync(readme, 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  blocks.forEach((code, i) => {
    const name = `${readme.replace(/[/.]/g, '_')}_${i + 1}.ts`;
    writeFileSync(join(out, name), `// from ${readme}, block ${i + 1}\n${code}\nexport {};\n`);
    files.push(name);
  });
}
writeFileSync(
  join(out, 'tsconfig.json'),
  JSON.stringify({
    extends: '../../../tsconfig.base.json',
    compilerOptions: { noEmit: true, types: ['node', 'jest'], noUnusedLocals: false },
    include: ['*.ts'],
  }),
);
try {
  execFileSync('pnpm', ['exec', 'tsc', '-p', join(out, 'tsconfig.json')], { stdio: 'pipe' });
  console.log(`✓ ${files.length} README code blocks type-check`);
} catch (err) {
  console.error(`✗ README code blocks do not type-check:\n${err.stdout}`);
  process.exit(1);
}
