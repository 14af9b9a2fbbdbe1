#!/usr/bin/env bash
# Installs the real peers that interop tests talk to, so the README's test
# command and CI work on a fresh machine:
# - a Python virtualenv in .tools/py with grpcio (+ grpcio-tools and protobuf to
#   compile harmonics.proto), websockets, numpy and pyarrow (Flight), from the machine's local
#   wheel store. Tests find it through HARMONICS_PYTHON (default .tools/py/bin/python).
# - Debian's Chromium (/usr/bin/chromium) for the browser test of transport-ws
#   (HARMONICS_CHROMIUM overrides the path).
# HARMONICS_PEERS=python installs only the Python peers (what pnpm bench needs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY_PACKAGES="grpcio grpcio-tools protobuf websockets numpy pyarrow"
VENV="$ROOT/.tools/py"
STAMP="$VENV/.installed"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$PY_PACKAGES" ]; then
  echo "setup-peers: creating $VENV with $PY_PACKAGES" >&2
  python3 -m venv "$VENV"
  # --retries 0: the machine reaches only its local package index; do not wait on pypi.org.
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --retries 0 $PY_PACKAGES 2>&1 | grep -v "^WARNING" >&2 || true
  "$VENV/bin/python" -c "import grpc, grpc_tools, websockets, numpy, pyarrow.flight" >&2
  echo "$PY_PACKAGES" > "$STAMP"
fi
if [ "${HARMONICS_PEERS:-all}" != python ] && [ -z "${HARMONICS_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  echo "setup-peers: installing Debian's chromium" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
