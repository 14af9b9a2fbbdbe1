#!/usr/bin/env bash
# Installs the real peers that interop tests talk to (Chromium, Python stacks).
# Nothing is needed yet; each transport that needs a peer adds its step here so
# that the README's test command and CI install it on a fresh machine.
set -euo pipefail
