#!/usr/bin/env bash
# npm run load-test [-- --only net,grpc,ws,flight] [--idle N] [--slow N] [--stalled N] [--seconds S]:
# build, then keep a legitimate client served while hostile ones are attached (packages/bench/src/load.ts).
source "$(dirname "$0")/bootstrap.sh"
pnpm exec turbo run build --output-logs=errors-only >&2
node --expose-gc packages/bench/dist/load.js "$@"
