"""The training data of `trainer train`, read independently of the project's code.

- Questions: the TSV files `{DATA}/Train/Train_{type}_question.csv` (the columns the generator
  writes; captions ask CAPTION_PROMPT), grouped by GIF in name order and cut to `--max-gifs`
  GIFs, as trainer/src/data.rs does.
- Frames: the trainer's frame cache, `{DATA}/.frame-cache/Train-64px-{N}gifs-{key}.bin`, parsed
  directly (layout in trainer/src/frame_cache.rs: header, index of names and frame delays, then
  every GIF's resized 64x64 RGB frames back to back). The Burn run writes it the first time it
  loads those N GIFs, so both sides read the very same bytes; `compare.sh` runs Burn first.
- Tokens: the WordPiece vocabulary trainer/src/vocab.rs builds from every Train question
  (specials, six punctuation marks, single characters and their ## forms, then every word), BERT
  normalisation (lower case) and pre-tokenisation (split at spaces and punctuation), [CLS] ... [SEP].
- Sampling: one jittered time inside each of 48 equal segments per GIF (trainer::train::jittered_uniform),
  the frame on screen then (sampling.rs `Timeline`), time buckets of 32 (preprocess.rs).
"""

import bisect
import glob
import hashlib
import os
import random
import re
import struct

import numpy as np

CAPTION_PROMPT = "which caption describes the gif ?"
TYPES = ["action", "transition", "count", "frameqa", "caption"]  # QuestionType::ALL order
MULTIPLE_CHOICE = {"action", "transition", "caption"}
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MAGIC = b"GQAFRC01"
HEADER_LEN = 8 + 32 + 4 * 8 + 32
MIN_DELAY_MS, DEFAULT_DELAY_MS = 20, 100  # sampling.rs
MEAN, STD = 0.5, 0.25  # PreprocessConfig::new


def split_dir(data, split):
    nested = os.path.join(data, split)
    return nested if os.path.isdir(nested) else data


def load_split(data, split="Train"):
    """Every question row of the split, as dicts (questions.rs `read_question_file`)."""
    base = split_dir(data, split)
    items = []
    for qtype in TYPES:
        path = os.path.join(base, f"{split}_{qtype}_question.csv")
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        header = [h.strip() for h in lines[0].split("\t")]
        col = {name: i for i, name in enumerate(header)}
        for line in lines[1:]:
            if not line.strip():
                continue
            fields = [x.strip() for x in line.split("\t")]
            candidates = [fields[col[f"a{i}"]] for i in range(1, 6)] if qtype in MULTIPLE_CHOICE else []
            answer = fields[col["answer"]]
            if qtype in MULTIPLE_CHOICE or qtype == "count":
                answer = int(answer)
            items.append(
                {
                    "qtype": qtype,
                    "gif": fields[col["gif_name"]],
                    "question": CAPTION_PROMPT if qtype == "caption" else fields[col["question"]],
                    "candidates": candidates,
                    "answer": answer,
                }
            )
    return items


class Tokenizer:
    """The vocabulary of trainer/src/vocab.rs `build_tokenizer`, applied like the `tokenizers`
    crate's BertNormalizer + BertPreTokenizer + WordPiece + BertProcessing."""

    def __init__(self, items):
        words = set()

        def add(text):
            words.update(w for w in re.split(r"[^0-9a-z]+", text.lower()) if w)

        for item in items:
            add(item["question"])
            for c in item["candidates"]:
                add(c)
            if item["qtype"] == "frameqa":
                add(item["answer"])
        tokens = SPECIAL + list("?.,!'-")
        for c in "abcdefghijklmnopqrstuvwxyz0123456789":
            tokens += [c, "##" + c]
        tokens += sorted(words)
        self.vocab = {}
        for t in tokens:
            self.vocab.setdefault(t, len(self.vocab))
        self.cache = {}

    def __len__(self):
        return len(self.vocab)

    def wordpiece(self, word):
        if word in self.vocab:
            return [self.vocab[word]]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            if end == start:
                return [self.vocab["[UNK]"]]
            pieces.append(self.vocab[piece])
            start = end
        return pieces

    def encode(self, text, max_len):
        key = (text, max_len)
        if key not in self.cache:
            ids = [self.vocab["[CLS]"]]
            for word in re.findall(r"\w+|[^\w\s]", text.lower()):
                ids += self.wordpiece(word)
            ids.append(self.vocab["[SEP]"])
            self.cache[key] = ids[:max_len]
        return self.cache[key]

    def encode_batch(self, texts, max_len):
        """ids [batch, len] and padding [batch, len] (True at padding), padded to the longest."""
        rows = [self.encode(t, max_len) for t in texts]
        length = max(1, max(len(r) for r in rows))
        ids = np.zeros((len(rows), length), dtype=np.int64)  # [PAD] is 0
        padding = np.ones((len(rows), length), dtype=bool)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            padding[i, : len(r)] = False
        return ids, padding


def answer_vocabulary(items):
    """vocab.rs `answer_vocabulary`: FrameQA answers by falling frequency, then by name."""
    counts = {}
    for item in items:
        if item["qtype"] == "frameqa":
            a = item["answer"].strip().lower()
            counts[a] = counts.get(a, 0) + 1
    return [a for a, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


class FrameCache:
    """A mapped trainer frame cache: per GIF its frames `[n, size, size, 3]` (uint8) and delays."""

    def __init__(self, path):
        raw = np.memmap(path, dtype=np.uint8, mode="r")
        header = bytes(raw[:HEADER_LEN])
        if header[:8] != MAGIC:
            raise ValueError(f"{path}: not a frame cache of layout {MAGIC!r}")
        frame_bytes, entries, index_len, data_len = struct.unpack_from("<4Q", header, 40)
        index = bytes(raw[HEADER_LEN : HEADER_LEN + index_len])
        if hashlib.sha256(index).digest() != header[72:104]:
            raise ValueError(f"{path}: index checksum mismatch")
        if len(raw) != HEADER_LEN + index_len + data_len:
            raise ValueError(f"{path}: truncated")
        side = int(round((frame_bytes / 3) ** 0.5))
        self.size = side
        self.gifs = {}
        pos, offset = 0, HEADER_LEN + index_len
        for _ in range(entries):
            (n,) = struct.unpack_from("<I", index, pos)
            name = index[pos + 4 : pos + 4 + n].decode()
            pos += 4 + n
            (count,) = struct.unpack_from("<I", index, pos)
            pos += 4
            if count == 0xFFFFFFFF:  # could not be decoded: the reason follows
                (n,) = struct.unpack_from("<I", index, pos)
                pos += 4 + n
                continue
            delays = list(struct.unpack_from(f"<{count}I", index, pos))
            pos += 4 * count
            frames = raw[offset : offset + count * frame_bytes].reshape(count, side, side, 3)
            offset += count * frame_bytes
            self.gifs[name] = (frames, delays)


def find_cache(data, split, size, names):
    """The cache file of exactly these GIFs (the index lists them in the same order)."""
    pattern = os.path.join(data, ".frame-cache", f"{split}-{size}px-{len(names)}gifs-*.bin")
    for path in sorted(glob.glob(pattern), key=os.path.getmtime, reverse=True):
        cache = FrameCache(path)
        if list(cache.gifs) == names:
            return cache
    raise FileNotFoundError(
        f"no frame cache of these {len(names)} {split} GIFs under {data}/.frame-cache "
        f"(run the Burn side first: `trainer train --max-gifs {len(names)} ...` writes it)"
    )


class Timeline:
    """sampling.rs `Timeline::from_delays` and `frame_at`."""

    def __init__(self, delays):
        self.starts, now = [], 0
        for d in delays:
            self.starts.append(now)
            now += d if d >= MIN_DELAY_MS else DEFAULT_DELAY_MS
        self.duration = max(now, 1)

    def frame_at(self, fraction):
        t = int(min(max(fraction, 0.0), 1.0) * self.duration)
        return max(bisect.bisect_right(self.starts, t) - 1, 0)


class TrainSet:
    """The Train split as `trainer train --max-gifs N` loads it."""

    def __init__(self, data, max_gifs, size=64):
        all_items = load_split(data, "Train")
        self.tokenizer = Tokenizer(all_items)  # built from every Train question, as new_config does
        self.answers = answer_vocabulary(all_items)
        self.answer_index = {a: i for i, a in enumerate(self.answers)}
        folder = os.path.join(split_dir(data, "Train"), "gifs")
        by_gif = {}
        for item in all_items:
            by_gif.setdefault(item["gif"], []).append(item)
        names = sorted(n for n in by_gif if os.path.isfile(os.path.join(folder, n + ".gif")))
        if max_gifs is not None:
            names = names[:max_gifs]
        self.cache = find_cache(data, "Train", size, names)
        self.names = [n for n in names if n in self.cache.gifs]
        self.items = {n: by_gif[n] for n in self.names}
        self.timelines = {n: Timeline(self.cache.gifs[n][1]) for n in self.names}
        self.questions = sum(len(v) for v in self.items.values())

    def clip(self, name, frames, rng):
        """Jitter-sampled clip: normalised pixels [frames, 3, size, size] and times."""
        pixels, _ = self.cache.gifs[name]
        timeline = self.timelines[name]
        times = [(i + rng.random()) / frames for i in range(frames)]
        picked = pixels[[timeline.frame_at(t) for t in times]]  # [frames, size, size, 3] uint8
        return picked, np.asarray(times, dtype=np.float32)

    def batches(self, batch_gifs, frames, seed, time_positions=32):
        """One epoch: shuffled GIFs in batches of `batch_gifs`, each with all its questions."""
        rng = random.Random(seed)
        order = list(self.names)
        rng.shuffle(order)
        for start in range(0, len(order), batch_gifs):
            names = order[start : start + batch_gifs]
            clips = [self.clip(n, frames, rng) for n in names]
            pixels = np.stack([c[0] for c in clips])  # [videos, frames, size, size, 3]
            # preprocess.rs `normalise`: (byte / 255 - 0.5) / 0.25, to [videos, frames, 3, size, size]
            pixels = (pixels.astype(np.float32) * (1.0 / (255.0 * STD)) - MEAN / STD).transpose(0, 1, 4, 2, 3)
            times = np.stack([c[1] for c in clips])
            buckets = np.minimum((np.clip(times, 0.0, 0.999999) * time_positions).astype(np.int64), time_positions - 1)
            questions = [(v, item) for v, n in enumerate(names) for item in self.items[n]]
            yield np.ascontiguousarray(pixels), buckets, questions
