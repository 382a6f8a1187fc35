#!/usr/bin/env bash
# Writes the part of all-MiniLM-L6-v2 that `trainer train --vocab minilm` reads (config.json,
# tokenizer.json and a model.safetensors holding only embeddings.word_embeddings.weight, 47 MB of
# the full 91 MB) into DEST (default .minilm, ignored by git), so it can travel to a machine that
# cannot download: the GPU machine's copy of the tree is limited to 64 MiB of carried files.
#
#   bash scripts/minilm-embeddings.sh [DEST]    then: GIFQA_MINILM_DIR=DEST trainer train --vocab minilm ...
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-.minilm}"
src="${GIFQA_MINILM_DIR:-$HOME/.cache/gifqa/all-MiniLM-L6-v2}"
bash scripts/fetch-minilm.sh
mkdir -p "$dest"
cp "$src/config.json" "$src/tokenizer.json" "$dest/"
python3 - "$src/model.safetensors" "$dest/model.safetensors" <<'PY'
import json, struct, sys
src, dst = sys.argv[1], sys.argv[2]
key = "embeddings.word_embeddings.weight"
with open(src, "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
    start, end = header[key]["data_offsets"]
    f.seek(8 + n + start)
    data = f.read(end - start)
entry = dict(header[key], data_offsets=[0, len(data)])
text = json.dumps({key: entry}).encode()
text += b" " * (-len(text) % 8)
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
PY
echo "minilm-embeddings: $(du -sh "$dest" | cut -f1) in $dest"
