#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need (the Python and
# Node OpenTelemetry SDKs for the interop tests, cargo-nextest if missing), builds, and runs
# every test. Usage: scripts/test.sh [extra nextest args]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

step "Python OpenTelemetry SDK (PyPI) into .venv"
python3 -m venv "$root/.venv" >/dev/null
"$root/.venv/bin/pip" install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
export WEFT_PYTHON="$root/.venv/bin/python"

step "Node OpenTelemetry SDK (npm) into tests/interop/node"
(cd tests/interop/node && npm install --no-audit --no-fund --loglevel=error >/dev/null)
export WEFT_NODE_DIR="$root/tests/interop/node"

step "Web UI tests: Debian's chromium (apt) and playwright-core (npm) into tests/ui"
if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
(cd tests/ui && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
export WEFT_UI_DIR="$root/tests/ui"
export WEFT_CHROMIUM=/usr/bin/chromium

if ! command -v cargo-nextest >/dev/null 2>&1; then
  step "cargo-nextest (crates.io)"
  cargo install --locked cargo-nextest
fi

step "build (the tests start the real binaries)"
cargo build --workspace --bins --locked
export WEFT_BIN="$root/target/debug/weft"

step "tests"
cargo nextest run --workspace --locked --no-fail-fast "$@"
