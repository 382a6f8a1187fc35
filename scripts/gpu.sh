#!/usr/bin/env bash
# One prepared run for a borrowed GPU machine (about 15 minutes of device time in all): build the
# CUDA trainer, measure training and evaluation throughput for 60 s each with the GPU's memory and
# utilisation sampled, then train the demo recipe in the time left and evaluate it on the Val sets
# models are chosen on: the own renderer's templates and held-out phrasings, and the second
# renderer's. Every figure lands in $OUT (or ./gpu-run), which the device tool copies back.
#
#   bash scripts/gpu.sh [MINUTES_FOR_THE_RECIPE]   (default 3, so that one call stays under 10 minutes)
#
# The machine cannot download: the demo recipe's MiniLM vocabulary must travel with the tree.
# Before the call, run `bash scripts/minilm-embeddings.sh` here (writes .minilm, 46 MB) and name
# `.minilm` in the device tool's carry list. TRAINER=path skips the CUDA build (about 8 minutes
# cold) when a CUDA trainer built here is carried instead (it builds without a GPU).
#
# One device command may run at most 10 minutes, and an idle machine goes back within a minute:
# the build and the training cannot share one call. Build here first (`cargo build --release -p
# trainer --features cuda`, 20-30 minutes on 2 cores), `xz -k` the binary (about a quarter of its
# size, so that it fits the 64 MiB carry beside the 46 MB .minilm), carry both, and start the call
# with `xz -dk trainer.xz && TRAINER=$PWD/trainer bash scripts/gpu.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-3}"
out="${OUT:-gpu-run}"
mkdir -p "$out"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
if [ -d .minilm ]; then export GIFQA_MINILM_DIR="$PWD/.minilm"; fi
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$out/steps.log"; }

if [ -n "${TRAINER:-}" ]; then
  T="$TRAINER"
else
  log "build (cuda)"
  cargo build --release -p trainer --features cuda 2>&1 | tail -3 | tee -a "$out/steps.log"
  T="$CARGO_TARGET_DIR/release/trainer"
fi

# GPU memory and utilisation once a second while the rest runs.
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used,memory.total --format=csv -l 1 \
  >"$out/nvidia-smi.csv" 2>&1 &
smi=$!
trap 'kill $smi 2>/dev/null || true' EXIT

log "data (seed 7, 2,000 GIFs for the throughput runs)"
"$T" generate --out "$out/data" --seed 7 --gifs 2000 | tee -a "$out/steps.log"
log "loader alone"
"$T" bench --loader --data "$out/data" --frames 48 2>&1 | tee "$out/loader.txt"

model_flags=(--frames 48 --slot-coordinates --grid-attention-layers 2 --fused-captions
  --count-head pooled-and-evidence --count-temporal-kernel 5
  --attention-supervision 0.5 --object-supervision 0.5 --count-supervision 1)
for batch in 16 64 256; do
  log "training throughput, batch of $batch GIFs, 1 minute"
  "$T" train --data "$out/data" --out "$out/throughput-$batch" --minutes 1 --epochs 50 \
    --batch-gifs "$batch" --val-gifs 16 "${model_flags[@]}" 2>&1 | tee "$out/train-$batch.txt" | grep -E "epoch|q/s|questions" || true
done
log "evaluation throughput"
"$T" eval --model "$out/throughput-64" --data "$out/data" --split Val --batch-gifs 64 2>&1 | tee "$out/eval-throughput.txt" | tail -3

log "recipe demo in $minutes minutes"
"$T" train --recipe demo --out "$out/demo" --minutes "$minutes" 2>&1 | tail -20 | tee "$out/recipe.txt"
log "Val sets: seed 4242, own renderer (templates, held-out phrasings) and the second renderer"
for set in "primary templates" "primary unseen" "second templates" "second unseen"; do
  read -r renderer wording <<<"$set"
  "$T" generate --out "$out/val-$renderer-$wording" --seed 4242 --gifs 2000 --renderer "$renderer" \
    --wording "$wording" >/dev/null
done
for set in primary-templates primary-unseen second-templates second-unseen; do
  log "evaluation of the recipe's model on $set Val (200 GIFs)"
  "$T" eval --model "$out/demo" --data "$out/val-$set" --split Val --report "$out/demo-val-$set.json" \
    2>&1 | tee "$out/demo-val-$set.txt" | tail -12
done
log "done"
