#!/usr/bin/env bash
# The README's main job: build, then run the demo pipeline.
source "$(dirname "$0")/bootstrap.sh"
pnpm exec turbo run build --output-logs=errors-only >&2
node examples/stdio-pipeline/main.mjs "$@"
