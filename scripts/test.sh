#!/usr/bin/env bash
# The README's test command: build, type-check, lint and format check, API
# docs, browser-safety and package checks, every package's tests; ends with one line
# "N passed, N failed, N skipped".
#   bash scripts/test.sh          everything, foreign peers included: installs
#                                 Chromium and a Python venv first if missing
#                                 (scripts/setup-peers.sh says how, and stops
#                                 when it cannot)
#   bash scripts/test.sh --unit   every test that needs no foreign peer
#                                 (leaves out test/interop-*.spec.ts)
source "$(dirname "$0")/bootstrap.sh"
if [ "${1:-}" = --unit ]; then
  export HARMONICS_TESTS=unit
else
  unset HARMONICS_TESTS
  bash scripts/setup-peers.sh
fi
pnpm exec turbo run build typecheck --output-logs=errors-only
pnpm exec eslint .
pnpm exec prettier --check --log-level warn .
pnpm exec typedoc --logLevel Warn # API reference into docs/api; any warning fails
echo "✓ eslint, prettier and typedoc are clean"
node scripts/check-browser.mjs
node scripts/check-packages.mjs
rm -f packages/*/.jest-results.json packages/*/.jest-results-dist.json packages/*/.jest-results-public.json examples/*/.jest-results.json
set +e
pnpm exec turbo run test --continue --concurrency=1 --output-logs=full
status=$?
# Again over what users install: the conformance and foreign-peer suites against each package's built CommonJS dist.
echo "dist pass: conformance and interop suites against the built CommonJS dist (HARMONICS_TEST_DIST=cjs)"
HARMONICS_TEST_DIST=cjs pnpm exec turbo run test:dist --continue --concurrency=1 --output-logs=full || status=1
# And once more with the fast paths on ws and grpc-js internals off (DESIGN §11): the public-API paths.
echo "public-paths pass: the same suites of transport-ws, -grpc and -flight with HARMONICS_FAST_PATHS=0"
HARMONICS_TEST_DIST=cjs HARMONICS_FAST_PATHS=0 pnpm exec turbo run test:public-paths --continue --concurrency=1 --output-logs=full || status=1
set -e
node scripts/summarize-tests.mjs --dist || status=1
exit $status
