#!/usr/bin/env bash
# The README's test command: build, type-check, browser-safety check, every
# package's tests; ends with one line "N passed, N failed[, N skipped]".
source "$(dirname "$0")/bootstrap.sh"
bash scripts/setup-peers.sh
pnpm exec turbo run build typecheck --output-logs=errors-only
node scripts/check-browser.mjs
node scripts/check-packages.mjs
node scripts/check-readmes.mjs
rm -f packages/*/.jest-results.json examples/*/.jest-results.json
set +e
pnpm exec turbo run test --continue --concurrency=1 --output-logs=full
status=$?
set -e
node scripts/summarize-tests.mjs || status=1
exit $status
