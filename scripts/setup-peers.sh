#!/usr/bin/env bash
# Installs the real peers that interop tests talk to, so the README's test
# command and CI work on a fresh machine:
# - a Python virtualenv in .tools/py with grpcio (+ grpcio-tools and protobuf to
#   compile harmonics.proto) and numpy, from the machine's local wheel store.
# Tests find it through HARMONICS_PYTHON (default .tools/py/bin/python).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY_PACKAGES="grpcio grpcio-tools protobuf numpy"
VENV="$ROOT/.tools/py"
STAMP="$VENV/.installed"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$PY_PACKAGES" ]; then
  echo "setup-peers: creating $VENV with $PY_PACKAGES" >&2
  python3 -m venv "$VENV"
  # --retries 0: the machine reaches only its local package index; do not wait on pypi.org.
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --retries 0 $PY_PACKAGES 2>&1 | grep -v "^WARNING" >&2 || true
  "$VENV/bin/python" -c "import grpc, grpc_tools, numpy" >&2
  echo "$PY_PACKAGES" > "$STAMP"
fi
