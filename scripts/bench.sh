#!/usr/bin/env bash
# pnpm bench [--json FILE] [--only PREFIX]: build, then run the side-by-side benchmarks.
source "$(dirname "$0")/bootstrap.sh"
pnpm exec turbo run build --output-logs=errors-only >&2
node --expose-gc packages/bench/dist/cli.js "$@"
