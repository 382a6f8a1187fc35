#!/usr/bin/env bash
# Trains Burn (`trainer train`) and the PyTorch twin (bench/twin/train.py) for the same steps on the
# same data and prints Burn's questions/s over PyTorch's.
#
#   bench/twin/compare.sh [--steps N] [--device cpu|cuda] [--data DIR] [--rounds R] [--trainer BIN]
#
# --steps N    optimiser steps of 16 GIFs each (default 10): both sides train one epoch on the
#              first 16*N Train GIFs (`trainer train` has no step limit; --max-gifs and --epochs 1
#              give the same step count)
# --device     cpu (default; Burn's Flex backend) or cuda (Burn built with --features cuda, torch on
#              cuda; untested: no GPU where this was written)
# --data DIR   a dataset from `trainer generate`; without it one is generated (seed 3, 600 GIFs)
#              in ${TMPDIR:-/tmp}/gifqa-twin-data, or reused from there
# --rounds R   runs of each side, alternating Burn, twin, Burn, twin... (default 2)
# --trainer    a built trainer binary to use instead of building one with cargo
#
# Needs torch for the twin: `pip install -r bench/twin/requirements.txt` (PYTHON picks the
# interpreter, default python3). Both sides leave out the demo's auxiliary losses (they need the
# generator's annotations); the model options are the demo recipe's (trainer/recipes/demo.json).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
steps=10 device=cpu data="" rounds=2 trainer=""
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --trainer) trainer=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$device" in cpu|cuda) ;; *) echo "--device must be cpu or cuda" >&2; exit 2 ;; esac
python=${PYTHON:-python3}

if [ -z "$trainer" ]; then
  features=()
  [ "$device" = cuda ] && features=(--features cuda)
  (cd "$root" && cargo build --release -p trainer "${features[@]}")
  trainer="${CARGO_TARGET_DIR:-$root/target}/release/trainer"
fi

if [ -z "$data" ]; then
  data="${TMPDIR:-/tmp}/gifqa-twin-data"
  [ -d "$data/Train" ] || "$trainer" generate --out "$data" --seed 3 --gifs 600
fi

batch=16
gifs=$((steps * batch))
# The demo recipe's `model` section and first stage's rate and warm-up, without its auxiliary
# losses and its FrameQA-only warm-up (every step trains every question type on both sides).
burn_opts=(--max-gifs "$gifs" --epochs 1 --batch-gifs "$batch" --val-gifs 1 --seed 1
  --lr 0.002 --warmup 200 --frames 48 --slot-coordinates --grid-attention-layers 2 --fused-captions
  --count-head pooled-and-evidence --count-temporal-kernel 5)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
burn_qps=() twin_qps=() twin_after=() burn_cpu=() twin_cpu=()
# CPU seconds (user + system) of each whole run, where GNU time is there: on a shared machine the
# wall-clock figures depend on what else runs, the CPU time less so.
timed() {
  local out=$1; shift
  if [ -x /usr/bin/time ]; then /usr/bin/time -o "$out" -f "%U %S" "$@"; else echo "nan nan" >"$out"; "$@"; fi
}
cpu_seconds() { awk '{ if ($1 == "nan") print "nan"; else printf "%.1f", $1 + $2 }' "$1" | tail -1; }
burn_params="" twin_params=""
for round in $(seq 1 "$rounds"); do
  echo "== round $round/$rounds: Burn ($device)" >&2
  # Burn runs first in each round: its first run writes the frame cache the twin reads.
  timed "$work/burn-$round.time" "$trainer" train --data "$data" --out "$work/burn-$round" "${burn_opts[@]}" \
    2>"$work/burn-$round.log" || { tr '\r' '\n' <"$work/burn-$round.log" | tail -20 >&2; exit 1; }
  log=$(tr '\r' '\n' <"$work/burn-$round.log")
  echo "$log" | grep -E "^(training on|epoch 1 \()" >&2
  burn_params=$(echo "$log" | sed -n 's/.*; \([0-9]*\) parameters$/\1/p' | tail -1)
  # The epoch line rounds to 0.1; training.json keeps the full figure (same definition: the
  # epoch's questions over its wall time, validation and saving excluded).
  burn_qps+=("$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["history"][0]["questions_per_second"])' \
    "$work/burn-$round/training.json")")
  burn_cpu+=("$(cpu_seconds "$work/burn-$round.time")")
  rm -rf "$work/burn-$round"

  echo "== round $round/$rounds: PyTorch twin ($device)" >&2
  timed "$work/twin-$round.time" "$python" "$here/train.py" --data "$data" --steps "$steps" --device "$device" \
    --batch-gifs "$batch" --frames 48 --lr 0.002 --warmup 200 --seed 1 >"$work/twin-$round.log" 2>&1 || {
    tail -20 "$work/twin-$round.log" >&2; exit 1; }
  twin_cpu+=("$(cpu_seconds "$work/twin-$round.time")")
  grep -E "^twin(:| per step| parameters)" "$work/twin-$round.log" >&2
  result=$(grep '^RESULT twin' "$work/twin-$round.log")
  twin_qps+=("$(echo "$result" | sed 's/.*questions_per_s=\([0-9.]*\).*/\1/')")
  twin_after+=("$(echo "$result" | sed 's/.*after_warmup=\([0-9.na]*\).*/\1/')")
  twin_params=$(echo "$result" | sed 's/.*params=\([0-9]*\).*/\1/')
done

"$python" - "$device" "$steps" "$burn_params" "$twin_params" "${burn_qps[*]}" "${twin_qps[*]}" "${twin_after[*]}" \
  "${burn_cpu[*]}" "${twin_cpu[*]}" <<'EOF'
import sys
device, steps, bp, tp = sys.argv[1:5]
burn, twin, after, burn_cpu, twin_cpu = ([float(x) for x in arg.split()] for arg in sys.argv[5:10])
mean = lambda xs: sum(xs) / len(xs)
print(f"\n{steps} steps of 16 GIFs on {device}; parameters: Burn {bp}, PyTorch {tp} ({100 * (int(tp) - int(bp)) / int(bp):+.2f}%)")
print("| round | Burn questions/s | PyTorch questions/s | Burn / PyTorch | PyTorch after the first step | CPU s Burn / PyTorch (whole runs) |")
print("| --- | --- | --- | --- | --- | --- |")
for i, (b, t, a, bc, tc) in enumerate(zip(burn, twin, after, burn_cpu, twin_cpu), 1):
    print(f"| {i} | {b:.2f} | {t:.2f} | {b / t:.2f}x | {a:.2f} | {bc:.0f} / {tc:.0f} |")
mb, mt = mean(burn), mean(twin)
print(f"| mean | {mb:.2f} | {mt:.2f} | {mb / mt:.2f}x | {mean(after):.2f} | {mean(burn_cpu):.0f} / {mean(twin_cpu):.0f} |")
print(f"\nBurn / PyTorch on {device}: {mb / mt:.2f}x (goal: at least 1.0x)")
EOF
