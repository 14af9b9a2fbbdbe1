// Sum jest's --json results over every package that has a test script and
// print the closing line CI reads: "N passed, N failed, N skipped".
// A package whose results are missing (jest crashed) counts as one failure.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

// The dist pass ran when any package left its results (scripts/test.sh runs it after the source pass).
const distRan = process.argv.includes('--dist');
let passed = 0;
let failed = 0;
let skipped = 0;
for (const group of ['packages', 'examples']) {
  if (!existsSync(group)) continue;
  for (const dir of readdirSync(group).sort()) {
    const pkgFile = join(group, dir, 'package.json');
    if (!existsSync(pkgFile)) continue;
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
    if (!pkg.scripts?.test) continue;
    // The pass over the sources, and (for packages that have one) the pass over the built dist.
    const passes = [['', '.jest-results.json', true]];
    if (pkg.scripts['test:dist']) passes.push([' (dist, CommonJS)', '.jest-results-dist.json', distRan]);
    if (pkg.scripts['test:public-paths']) passes.push([' (dist, fast paths off)', '.jest-results-public.json', distRan]);
    for (const [label, file, required] of passes) {
      const resultsFile = join(group, dir, file);
      if (!existsSync(resultsFile)) {
        if (!required) continue;
        console.log(`${pkg.name}${label}: no test results (the test run crashed or did not run)`);
        failed += 1;
        continue;
      }
      const r = JSON.parse(readFileSync(resultsFile, 'utf8'));
      const suiteErrors = r.numRuntimeErrorTestSuites ?? 0;
      passed += r.numPassedTests;
      failed += r.numFailedTests + suiteErrors;
      skipped += r.numPendingTests + (r.numTodoTests ?? 0);
      console.log(`${pkg.name}${label}: ${r.numPassedTests} passed, ${r.numFailedTests + suiteErrors} failed, ${r.numPendingTests} skipped`);
    }
  }
}
if (process.env.HARMONICS_TESTS === 'unit') {
  console.log('unit run: the foreign-peer suites (test/interop-*.spec.ts) were left out; npm test runs them');
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
