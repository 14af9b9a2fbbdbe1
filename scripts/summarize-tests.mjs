// Sum jest's --json results over every package that has a test script and
// print the closing line CI reads: "N passed, N failed, N skipped".
// A package whose results are missing (jest crashed) counts as one failure.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

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
    const resultsFile = join(group, dir, '.jest-results.json');
    if (!existsSync(resultsFile)) {
      console.log(`${pkg.name}: no test results (the test run crashed or did not run)`);
      failed += 1;
      continue;
    }
    const r = JSON.parse(readFileSync(resultsFile, 'utf8'));
    const suiteErrors = r.numRuntimeErrorTestSuites ?? 0;
    passed += r.numPassedTests;
    failed += r.numFailedTests + suiteErrors;
    skipped += r.numPendingTests + (r.numTodoTests ?? 0);
    console.log(`${pkg.name}: ${r.numPassedTests} passed, ${r.numFailedTests + suiteErrors} failed, ${r.numPendingTests} skipped`);
  }
}
if (process.env.HARMONICS_TESTS === 'unit') {
  console.log('unit run: the foreign-peer suites (test/interop-*.spec.ts) were left out; npm test runs them');
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
