#!/usr/bin/env bash
# npm run test:latest: the suites of transport-ws, -grpc and -flight against the
# newest versions of ws, @grpc/grpc-js, apache-arrow and bufferutil that our
# ranges admit (not the lockfile's), in a scratch copy of the working tree,
# twice: with the fast paths forced on (HARMONICS_FAST_PATHS=force, even for
# versions outside FAST_PATH_TESTED in packages/internal/src/node.ts) and off.
# Needs the npm registry, so CI does not run it. When both passes are green
# with a version outside the tested range, widen that range. The only
# expected failure then is gate.spec.ts saying the version is untested.
#   HARMONICS_LATEST_KEEP=1 keeps the scratch copy (its path is printed).
source "$(dirname "$0")/bootstrap.sh"
bash scripts/setup-peers.sh
scratch="$(mktemp -d "${TMPDIR:-/tmp}/harmonics-latest.XXXXXX")"
[ -n "${HARMONICS_LATEST_KEEP:-}" ] || trap 'rm -rf "$scratch"' EXIT
echo "test:latest: copying the working tree to $scratch"
git ls-files --cached --others --exclude-standard -z | xargs -0 cp --parents -t "$scratch" 2>/dev/null || true
mkdir -p "$scratch/.tools"
# The foreign peers set up above (Python venv); the scratch copy does not set them up again.
[ -d .tools/py ] && ln -s "$ROOT/.tools/py" "$scratch/.tools/py"
cd "$scratch"
echo "test:latest: updating ws, @grpc/grpc-js, apache-arrow, bufferutil to the newest in range"
pnpm install --frozen-lockfile --reporter=silent
pnpm update --recursive ws @grpc/grpc-js apache-arrow bufferutil --reporter=silent
for dep in transport-ws:ws transport-grpc:@grpc/grpc-js transport-flight:@grpc/grpc-js transport-flight:apache-arrow; do
  node -p "'  ${dep%%:*}: ${dep#*:} ' + require('./packages/${dep%%:*}/node_modules/${dep#*:}/package.json').version"
done
pnpm exec turbo run build --output-logs=errors-only
status=0
filters=(--filter @harmonics/transport-ws --filter @harmonics/transport-grpc --filter @harmonics/transport-flight)
# Forced on: every test of the three packages (the fast-path tests included). Off: the
# conformance and foreign-peer suites against the built dist, as the public-paths pass of npm test runs them.
for mode in force 0; do
  echo "test:latest: HARMONICS_FAST_PATHS=$mode"
  if [ $mode = force ]; then task=test results=.jest-results.json; else task=test:public-paths results=.jest-results-public.json; fi
  rm -f packages/*/$results
  env HARMONICS_FAST_PATHS=$mode $([ $mode = 0 ] && echo HARMONICS_TEST_DIST=cjs) \
    pnpm exec turbo run $task "${filters[@]}" --continue --concurrency=1 --output-logs=errors-only || status=1
  for p in transport-ws transport-grpc transport-flight; do
    node -e '
      const r = require(process.argv[1]);
      const bad = r.testResults.flatMap((f) => f.assertionResults.filter((a) => a.status === "failed").map((a) => `    ✗ ${a.fullName}`));
      console.log(`  ${process.argv[2]} (HARMONICS_FAST_PATHS=${process.argv[3]}): ${r.numPassedTests} passed, ${r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0)} failed, ${r.numPendingTests} skipped`);
      if (bad.length) console.log(bad.join("\n"));
    ' "$PWD/packages/$p/$results" "$p" "$mode" || { echo "  $p: no results"; status=1; }
  done
done
exit $status
