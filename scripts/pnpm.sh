#!/usr/bin/env bash
# `bash scripts/pnpm.sh ARGS…` runs `pnpm ARGS…` after the bootstrap (pnpm
# 10.34.9 installed under .tools/ when the machine has only Node and npm, and
# the workspace installed), so the root npm scripts work on a fresh machine.
source "$(dirname "$0")/bootstrap.sh"
exec pnpm "$@"
