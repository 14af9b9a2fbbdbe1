#!/usr/bin/env bash
# pnpm bench [--json FILE] [--only PREFIX]: build, then run the side-by-side benchmarks.
source "$(dirname "$0")/bootstrap.sh"
# The flight rows compare with pyarrow (a Python venv in .tools/py); the nats rows start nats-server.
HARMONICS_PEERS=bench bash "$(dirname "$0")/setup-peers.sh"
pnpm exec turbo run build --output-logs=errors-only >&2
node --expose-gc packages/bench/dist/cli.js "$@"
