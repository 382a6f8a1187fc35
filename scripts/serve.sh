#!/usr/bin/env bash
# The demo: sets up, builds the page and serves it at http://127.0.0.1:8080/ (Ctrl-C stops).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec trunk serve --release --address 127.0.0.1 --port "${PORT:-8080}" "$@"
