#!/usr/bin/env bash
# npm run fuzz [-- --inputs N --seed S --targets a,b --json FILE]: seeded mutation
# fuzzing of every decoder a peer can reach (packages/fuzz), 1,000,000 inputs each by default.
source "$(dirname "$0")/bootstrap.sh"
pnpm exec turbo run build --output-logs=errors-only >&2
node scripts/fuzz.mjs "$@"
