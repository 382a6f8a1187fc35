#!/usr/bin/env bash
# The test command: set-up, every test of the workspace (release: tensor code is too slow
# unoptimised), clippy, and the wasm32 build of the shared model and the web crate.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }
step "cargo test"
cargo test --release --workspace
step "clippy"
cargo clippy --release --workspace --all-targets -- -D warnings
step "wasm32 build of shared-model and web"
cargo build --release --target wasm32-unknown-unknown -p shared-model -p web
step "done"
