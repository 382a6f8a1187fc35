#!/usr/bin/env bash
# The test command: set-up, the page's release build (served under /demo/ by the browser test),
# every test of the workspace (release: tensor code is too slow unoptimised) including the
# headless-Chromium end-to-end test, then clippy on native (CPU and CUDA builds) and wasm32 code.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }
step "trunk build of the page"
trunk build --release --public-url /demo/
ls -l dist/*.wasm
step "cargo test"
# The page's crates are wasm-only (web-worker's Burn has the WebGPU backend; web is the main
# thread's): native commands leave them out, so that their features do not spread into the
# native build.
# GIFQA_FUZZ_SECONDS: each fuzz target mutates for 30 s after replaying its corpus and regressions.
GIFQA_REQUIRE_BROWSER=1 GIFQA_FUZZ_SECONDS=30 cargo test --release --workspace --exclude web --exclude web-worker
step "clippy"
cargo clippy --release --workspace --exclude web --exclude web-worker --all-targets -- -D warnings
cargo clippy --target wasm32-unknown-unknown -p shared-model -p web -p web-common -p web-worker -p web-protocol -- -D warnings
# The CUDA build must keep compiling without a GPU (its backend loads the driver and NVRTC at run time).
cargo clippy --release -p trainer --features cuda --all-targets -- -D warnings
step "done"
