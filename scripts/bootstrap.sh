# Sourced by the other scripts: make pnpm 10.34.9 available (installing it
# locally under .tools/ when the machine has only Node and npm), then install
# the workspace from the lockfile.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 TURBO_NO_UPDATE_NOTIFIER=1
PNPM_VERSION=10.34.9
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  if [ ! -x "$ROOT/.tools/node_modules/.bin/pnpm" ]; then
    echo "bootstrap: installing pnpm@$PNPM_VERSION into .tools/" >&2
    npm install --silent --no-audit --no-fund --prefix "$ROOT/.tools" "pnpm@$PNPM_VERSION" >&2
  fi
  export PATH="$ROOT/.tools/node_modules/.bin:$PATH"
fi
if [ -z "${HARMONICS_SKIP_INSTALL:-}" ]; then
  mkdir -p "$ROOT/.tools"
  if ! pnpm install --frozen-lockfile --reporter=append-only >"$ROOT/.tools/install.log" 2>&1; then
    echo "bootstrap: pnpm install failed; the end of its output (all of it is in .tools/install.log):" >&2
    tail -n 20 "$ROOT/.tools/install.log" >&2
    exit 1
  fi
fi
