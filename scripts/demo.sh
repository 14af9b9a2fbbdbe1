#!/usr/bin/env bash
# The README's main job: build, then run the split-model pipeline (examples/pipeline).
source "$(dirname "$0")/bootstrap.sh"
pnpm exec turbo run build --output-logs=errors-only >&2
node examples/pipeline/main.mjs "$@"
