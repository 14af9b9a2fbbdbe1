#!/usr/bin/env bash
# The foreign peers that the interop tests (test/interop-*.spec.ts) talk to:
# - Chromium from the OS packages (Debian/Ubuntu `apt-get install chromium`),
#   for the browser tests. HARMONICS_CHROMIUM=PATH uses another.
# - nats-server from the OS packages (`apt-get install nats-server`), which the
#   transport-nats tests start themselves (JetStream, clusters, WebSocket).
#   HARMONICS_NATS_SERVER=PATH uses another.
# - A Python virtualenv in .tools/py with grpcio (+ grpcio-tools and protobuf to
#   compile harmonics.proto), websockets, numpy and pyarrow (Flight), installed
#   by pip from the machine's package index. HARMONICS_PYTHON=PATH uses an
#   existing interpreter that can import those modules.
# Says what it will do before doing it, logs apt's and pip's output to
# .tools/setup-peers.log, and stops (exit 1, before any test runs) when it
# cannot install a peer, pointing at `npm run test:unit`.
# HARMONICS_PEERS=python sets up only the Python peers; HARMONICS_PEERS=bench
# the Python peers and nats-server (what pnpm bench needs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY_PACKAGES="grpcio grpcio-tools protobuf websockets numpy pyarrow safetensors ml_dtypes"
PY_CHECK="import grpc, grpc_tools, websockets, numpy, pyarrow.flight, safetensors.numpy, ml_dtypes"
VENV="$ROOT/.tools/py"
STAMP="$VENV/.installed"
LOG="$ROOT/.tools/setup-peers.log"
WANT_CHROMIUM=1
WANT_NATS=1
[ "${HARMONICS_PEERS:-all}" = python ] && WANT_CHROMIUM=0 && WANT_NATS=0
[ "${HARMONICS_PEERS:-all}" = bench ] && WANT_CHROMIUM=0
mkdir -p "$ROOT/.tools"

say() { echo "setup-peers: $*" >&2; }
give_up() {
  say "cannot set up the foreign peers: $1"
  say "  point at existing ones with HARMONICS_CHROMIUM=/path/to/chromium,"
  say "  HARMONICS_NATS_SERVER=/path/to/nats-server and"
  say "  HARMONICS_PYTHON=/path/to/python (able to import: ${PY_CHECK#import }),"
  say "  or run the tests that need no foreign peer: npm run test:unit"
  exit 1
}

# What is there, and what would have to be installed.
python_ok() { "$1" -c "$PY_CHECK" >/dev/null 2>&1; }
NEED_VENV=0
if [ -n "${HARMONICS_PYTHON:-}" ]; then
  python_ok "$HARMONICS_PYTHON" || give_up "HARMONICS_PYTHON=$HARMONICS_PYTHON cannot run: $PY_CHECK"
elif [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$PY_PACKAGES" ] || ! python_ok "$VENV/bin/python"; then
  NEED_VENV=1
fi
NEED_CHROMIUM=0
if [ "$WANT_CHROMIUM" = 1 ]; then
  if [ -n "${HARMONICS_CHROMIUM:-}" ]; then
    [ -x "$HARMONICS_CHROMIUM" ] || give_up "HARMONICS_CHROMIUM=$HARMONICS_CHROMIUM is not an executable"
  elif [ ! -x /usr/bin/chromium ]; then
    NEED_CHROMIUM=1
  fi
fi
NEED_NATS=0
if [ "$WANT_NATS" = 1 ]; then
  if [ -n "${HARMONICS_NATS_SERVER:-}" ]; then
    [ -x "$HARMONICS_NATS_SERVER" ] || give_up "HARMONICS_NATS_SERVER=$HARMONICS_NATS_SERVER is not an executable"
  elif [ ! -x /usr/sbin/nats-server ] && ! command -v nats-server >/dev/null 2>&1; then
    NEED_NATS=1
  fi
fi
[ "$NEED_VENV$NEED_CHROMIUM$NEED_NATS" = 000 ] && exit 0

# Say it first, in a few lines.
say "the interop tests talk to real foreign peers; installing what is missing:"
[ "$NEED_CHROMIUM" = 1 ] && say "  - Chromium from the OS packages (apt-get install chromium), for the browser tests"
[ "$NEED_NATS" = 1 ] && say "  - nats-server from the OS packages (apt-get install nats-server), for the NATS tests"
[ "$NEED_VENV" = 1 ] && say "  - a Python venv in .tools/py with pip: $PY_PACKAGES"
say "  output goes to $LOG; use existing peers with HARMONICS_CHROMIUM / HARMONICS_PYTHON / HARMONICS_NATS_SERVER,"
say "  or skip them all with npm run test:unit"

# Can we? Checked before anything is installed.
SUDO=""
APT_PACKAGES=""
[ "$NEED_CHROMIUM" = 1 ] && APT_PACKAGES=" chromium"
[ "$NEED_NATS" = 1 ] && APT_PACKAGES="$APT_PACKAGES nats-server"
if [ -n "$APT_PACKAGES" ]; then
  command -v apt-get >/dev/null 2>&1 || give_up "no apt-get here (not Debian/Ubuntu) to install:$APT_PACKAGES"
  if [ "$(id -u)" != 0 ]; then
    sudo -n true >/dev/null 2>&1 || give_up "installing$APT_PACKAGES needs root (or sudo without a password)"
    SUDO="sudo -n"
  fi
fi
if [ "$NEED_VENV" = 1 ]; then
  command -v python3 >/dev/null 2>&1 || give_up "no python3 to build the venv with"
  python3 -c "import venv, ensurepip" >/dev/null 2>&1 || give_up "python3 has no venv/ensurepip module (Debian: apt-get install python3-venv)"
fi

: > "$LOG"
if [ -n "$APT_PACKAGES" ]; then
  say "installing$APT_PACKAGES from the OS packages (about a minute)…"
  # shellcheck disable=SC2086 # the package list is split on purpose
  { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $APT_PACKAGES; } >>"$LOG" 2>&1 ||
    give_up "apt-get failed (see $LOG)"
  [ "$NEED_CHROMIUM" = 0 ] || [ -x /usr/bin/chromium ] || give_up "apt-get installed no /usr/bin/chromium (see $LOG)"
  [ "$NEED_NATS" = 0 ] || [ -x /usr/sbin/nats-server ] || give_up "apt-get installed no /usr/sbin/nats-server (see $LOG)"
fi
if [ "$NEED_VENV" = 1 ]; then
  say "creating the Python venv (about a minute)…"
  { python3 -m venv "$VENV" &&
    # --retries 0: the machine may reach only its local package index; do not wait on others.
    "$VENV/bin/pip" install --disable-pip-version-check --retries 0 $PY_PACKAGES; } >>"$LOG" 2>&1 ||
    give_up "pip failed (see $LOG)"
  python_ok "$VENV/bin/python" || give_up "the venv cannot run: $PY_CHECK (see $LOG)"
  echo "$PY_PACKAGES" > "$STAMP"
fi
say "peers ready"
