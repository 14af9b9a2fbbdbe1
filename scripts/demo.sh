#!/usr/bin/env bash
# The README's main job: build, then run the split-model pipeline (examples/pipeline).
# --scale-out runs examples/scale-out instead: the middle stage on three worker
# processes sharing a NATS JetStream work queue (needs nats-server).
source "$(dirname "$0")/bootstrap.sh"
pnpm exec turbo run build --output-logs=errors-only >&2
if [ "${1:-}" = --scale-out ]; then
  shift
  exec node examples/scale-out/main.mjs "$@"
fi
node examples/pipeline/main.mjs "$@"
