"""The GIF question-answering model of the demo recipe, re-implemented in PyTorch.

An independent twin of shared-model/src/model/*.rs (nothing of the project is imported): the same
modules, widths, layer counts and tensor shapes as `trainer/recipes/demo.json`'s `model` section
with the trainer's defaults (d_model 64, 4 heads, 48 frames of 64x64, frame channels [48, 96],
1 text layer, 4 slots, 32 time positions, 2 temporal layers, 2 grid-attention layers, slot
coordinates, slot logit scale 4, fused captions, pooled-and-evidence count head with a temporal
kernel of 5, dropout 0.1). The object probe is left out: it exists only for
`--object-supervision`, which the comparison runs without on both sides.

Each function says which Rust function it mirrors, so a reader can check the twin line by line.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

MASKED_SCORE = -1.0e4  # attention.rs: score of padded keys before the softmax
EVIDENCE_PRIOR_LOGIT = -2.0  # event_counter.rs
EVIDENCE_BESIDE_POOLED_LOG_SHARPNESS = -4.0  # qa_model.rs


class Config:
    """QaModelConfig as `trainer train` builds it for the demo recipe (see module doc)."""

    def __init__(self, vocab_size, answer_classes, **overrides):
        self.vocab_size = vocab_size
        self.answer_classes = answer_classes
        self.d_model = 64
        self.n_heads = 4
        self.image_size = 64
        self.frame_channels = (48, 96)
        self.max_text_len = 40
        self.text_layers = 1
        self.slots = 4
        self.time_positions = 32
        self.temporal_layers = 2
        self.count_classes = 11
        self.slot_logit_scale = 4.0  # `--slot-logit-scale` default
        self.grid_attention_layers = 2
        self.count_temporal_kernel = 5
        self.count_temporal_width = 64  # EventCounterConfig::temporal_width default
        self.dropout = 0.1
        for key, value in overrides.items():
            setattr(self, key, value)


def burn_linear(d_in, d_out, zeros=False):
    """A Linear initialised like Burn's default (Kaiming uniform, bound 1/sqrt(fan_in), for the
    weight and the bias), or with zeros (Burn's `Initializer::Zeros`, weight and bias)."""
    layer = nn.Linear(d_in, d_out)
    bound = 1.0 / math.sqrt(d_in)
    with torch.no_grad():
        if zeros:
            layer.weight.zero_()
            layer.bias.zero_()
        else:
            layer.weight.uniform_(-bound, bound)
            layer.bias.uniform_(-bound, bound)
    return layer


def small_normal(*shape):
    """Burn's `Initializer::Normal { mean: 0, std: 0.02 }`."""
    return nn.Parameter(torch.randn(*shape) * 0.02)


class MultiHeadAttention(nn.Module):
    """attention.rs `MultiHeadAttention`: q/k/v/output projections, scores / sqrt(d_head), padded
    keys filled with -1e4, softmax, weighted values. Written out (not F.scaled_dot_product_attention)
    so that the arithmetic is Burn's."""

    def __init__(self, d_model, n_heads, zero_output=False):
        super().__init__()
        self.query = burn_linear(d_model, d_model)
        self.key = burn_linear(d_model, d_model)
        self.value = burn_linear(d_model, d_model)
        self.output = burn_linear(d_model, d_model, zeros=zero_output)
        self.n_heads = n_heads

    def forward(self, query, key_value, key_padding=None):
        # query [b, q, d], key_value [b, k, d], key_padding [b, k] True at padding
        b, q_len, d = query.shape
        k_len = key_value.shape[1]
        h, dh = self.n_heads, d // self.n_heads
        q = self.query(query).reshape(b, q_len, h, dh).transpose(1, 2)
        k = self.key(key_value).reshape(b, k_len, h, dh).transpose(1, 2)
        v = self.value(key_value).reshape(b, k_len, h, dh).transpose(1, 2)
        scores = q @ k.transpose(2, 3) / math.sqrt(dh)  # [b, h, q, k]
        if key_padding is not None:
            scores = scores.masked_fill(key_padding[:, None, None, :], MASKED_SCORE)
        weights = scores.softmax(dim=3)
        context = (weights @ v).transpose(1, 2).reshape(b, q_len, d)
        # Burn also returns the head-averaged weights; no caller in training reads them, so the twin
        # skips that mean (Burn computes it eagerly: one pass over [b, h, q, k]).
        return self.output(context)


class TransformerLayer(nn.Module):
    """transformer.rs `TransformerLayer`: pre-LN attention and GELU feed-forward (2x width)."""

    def __init__(self, d_model, n_heads, dropout, identity_start):
        super().__init__()
        self.norm_attention = nn.LayerNorm(d_model, eps=1e-5)
        self.attention = MultiHeadAttention(d_model, n_heads, zero_output=identity_start)
        self.norm_ffn = nn.LayerNorm(d_model, eps=1e-5)
        self.ffn_in = burn_linear(d_model, 2 * d_model)
        self.ffn_out = burn_linear(2 * d_model, d_model, zeros=identity_start)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, padding):
        normed = self.norm_attention(x)
        x = x + self.dropout(self.attention(normed, normed, padding))
        hidden = F.gelu(self.ffn_in(self.norm_ffn(x)))
        return x + self.dropout(self.ffn_out(hidden))


class Transformer(nn.Module):
    """transformer.rs `Transformer`: layers then a final LayerNorm."""

    def __init__(self, d_model, n_heads, n_layers, dropout, identity_start=False):
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerLayer(d_model, n_heads, dropout, identity_start) for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model, eps=1e-5)

    def forward(self, x, padding=None):
        for layer in self.layers:
            x = layer(x, padding)
        return self.norm(x)


def shift(x, dim):
    """frame_encoder.rs `shift`: cell i takes what was at i + 1, zeros past the edge."""
    rest = x.narrow(dim, 1, x.shape[dim] - 1)
    zeros_shape = list(x.shape)
    zeros_shape[dim] = 1
    return torch.cat([rest, x.new_zeros(zeros_shape)], dim)


def neighbourhood(x):
    """frame_encoder.rs `neighbourhood`: [n, h, w, c] -> [n, h, w, 4c] (cell, right, down, diagonal)."""
    right = shift(x, 2)
    down = shift(x, 1)
    diagonal = shift(down, 2)
    return torch.cat([x, right, down, diagonal], 3)


class FrameEncoder(nn.Module):
    """frame_encoder.rs: 4x4 patch embedding, 2x2 neighbourhood mix, 2x2 merge, mix, 2-D
    positions, LayerNorm, then the gated grid attention (grid_attention.rs)."""

    PATCH = 4

    def __init__(self, cfg):
        super().__init__()
        c1, c2 = cfg.frame_channels
        d = cfg.d_model
        side = cfg.image_size // 8
        self.embed = burn_linear(3 * self.PATCH * self.PATCH, c1)
        self.embed_norm = nn.LayerNorm(c1, eps=1e-5)
        self.mix_fine = burn_linear(4 * c1, c1)
        self.merge = burn_linear(4 * c1, c2)
        self.merge_norm = nn.LayerNorm(c2, eps=1e-5)
        self.mix_coarse = burn_linear(4 * c2, d)
        self.positions = small_normal(side * side, d)
        self.norm = nn.LayerNorm(d, eps=1e-5)
        # GridAttention: no dropout, every layer starts as the identity, gate starts closed.
        self.grid_transformer = Transformer(d, cfg.n_heads, cfg.grid_attention_layers, 0.0, identity_start=True)
        self.grid_gate = nn.Parameter(torch.zeros(1))

    def forward(self, frames):
        # frames [n, 3, size, size] -> tokens [n, (size / 8)^2, d_model]
        n, c, size, _ = frames.shape
        p = self.PATCH
        side = size // p
        patches = frames.reshape(n, c, side, p, side, p).permute(0, 2, 4, 1, 3, 5).reshape(n, side, side, c * p * p)
        fine = self.embed_norm(F.gelu(self.embed(patches)))
        fine = fine + F.gelu(self.mix_fine(neighbourhood(fine)))
        c1 = fine.shape[3]
        half = side // 2
        merged = fine.reshape(n, half, 2, half, 2, c1).permute(0, 1, 3, 2, 4, 5).reshape(n, half, half, 4 * c1)
        coarse = self.merge_norm(F.gelu(self.merge(merged)))
        tokens = F.gelu(self.mix_coarse(neighbourhood(coarse)))
        tokens = tokens.reshape(n, half * half, -1) + self.positions[None]
        tokens = self.norm(tokens)
        return tokens + self.grid_transformer(tokens) * self.grid_gate


class TextEncoder(nn.Module):
    """text_encoder.rs: token + position embeddings (Burn's Embedding draws N(0, 1)), a
    transformer, and the mean of the non-padded tokens."""

    def __init__(self, cfg):
        super().__init__()
        self.tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.positions = nn.Embedding(cfg.max_text_len, cfg.d_model)
        self.transformer = Transformer(cfg.d_model, cfg.n_heads, cfg.text_layers, cfg.dropout)

    def forward(self, ids, padding):
        b, length = ids.shape
        positions = torch.arange(length, device=ids.device)[None].expand(b, length)
        hidden = self.transformer(self.tokens(ids) + self.positions(positions), padding)
        keep = (~padding).float()[:, :, None]
        pooled = (hidden * keep).sum(1) / keep.sum(1).clamp_min(1.0)
        return hidden, pooled, padding


def unit_rows(x):
    """fusion.rs `unit_rows`."""
    return x / x.pow(2).sum(-1, keepdim=True).sqrt().clamp_min(1e-6)


def cell_coordinates(cells, device):
    """slot_reader.rs `cell_coordinates`: (x, y) centres of a square row-major grid in [-1, 1]."""
    side = round(math.sqrt(cells))
    idx = torch.arange(cells, device=device)
    centre = lambda i, n: (2.0 * i.float() + 1.0) / n - 1.0  # noqa: E731
    return torch.stack([centre(idx % side, side), centre(idx // side, side)], 1)


class SlotReader(nn.Module):
    """slot_reader.rs: each question's slot queries attend over every frame's cells of its own
    video, questions grouped per video (the host-side `QuestionLayout`) so that the attention is
    one batched product per video; softmax over each frame's cells; with coordinates, the
    attention centroid of every head is projected into the read (zero-initialised)."""

    def __init__(self, cfg):
        super().__init__()
        d = cfg.d_model
        self.query = burn_linear(d, d)
        self.key = burn_linear(d, d)
        self.value = burn_linear(d, d)
        self.output = burn_linear(d, d)
        self.where_read = burn_linear(2 * cfg.n_heads, d, zeros=True)
        self.n_heads = cfg.n_heads
        self.logit_scale = cfg.slot_logit_scale

    def forward(self, frame_tokens, queries, layout):
        videos, frames, cells, d = frame_tokens.shape
        slots = queries.shape[1]
        h, dh = self.n_heads, d // self.n_heads
        per_video, gather, scatter = layout
        rows = per_video * slots
        q = self.query(queries)[gather].reshape(videos, rows, h, dh).transpose(1, 2)
        grid = frame_tokens.reshape(videos, frames * cells, d)
        k = self.key(grid).reshape(videos, frames * cells, h, dh).transpose(1, 2)
        v = self.value(grid).reshape(videos, frames * cells, h, dh).transpose(1, 2).reshape(videos, h, frames, cells, dh)
        scores = (q @ k.transpose(2, 3)) * (self.logit_scale / math.sqrt(dh))
        weights = scores.reshape(videos, h, rows, frames, cells).softmax(dim=4)
        centroid = weights.reshape(-1, cells) @ cell_coordinates(cells, frame_tokens.device)
        centroid = (
            centroid.reshape(videos, h, per_video, slots, frames, 2)
            .permute(0, 2, 4, 3, 1, 5)
            .reshape(videos * per_video, frames, slots, h * 2)[scatter]
        )
        attention = (
            weights.mean(1).reshape(videos * per_video, slots, frames, cells).mean(1)[scatter]
        )  # [questions, frames, cells]
        read = weights.transpose(2, 3) @ v  # [videos, h, frames, rows, dh]
        read = (
            read.reshape(videos, h, frames, per_video, slots, dh)
            .permute(0, 3, 2, 4, 1, 5)
            .reshape(videos * per_video, frames, slots, d)[scatter]
        )
        return self.output(read) + self.where_read(centroid), attention


def question_layout(video_index, videos, device):
    """slot_reader.rs `QuestionLayout::new`: questions grouped by video, padded to the largest
    count (padding slots repeat question 0); returns (per_video, gather, scatter)."""
    counts = [0] * videos
    for v in video_index:
        counts[v] += 1
    per_video = max(1, max(counts) if counts else 0)
    rank = [0] * videos
    gather = [0] * (videos * per_video)
    scatter = []
    for q, v in enumerate(video_index):
        slot = v * per_video + rank[v]
        rank[v] += 1
        gather[slot] = q
        scatter.append(slot)
    as_tensor = lambda ids: torch.tensor(ids, dtype=torch.long, device=device)  # noqa: E731
    return per_video, as_tensor(gather), as_tensor(scatter)


class Fusion(nn.Module):
    """fusion.rs `QuestionVideoFusion` (temporal transformer, no max-pooled grid token)."""

    def __init__(self, cfg):
        super().__init__()
        d = cfg.d_model
        self.slot_queries = small_normal(cfg.slots, d)
        self.question_to_query = burn_linear(d, d)
        self.slot_reader = SlotReader(cfg)
        self.spatial_norm = nn.LayerNorm(d, eps=1e-5)
        self.time_embedding = nn.Embedding(cfg.time_positions, d)
        self.segment_embedding = nn.Embedding(3, d)
        with torch.no_grad():
            self.time_embedding.weight.normal_(0.0, 0.02)
            self.segment_embedding.weight.normal_(0.0, 0.02)
        self.cls = small_normal(1, d)
        self.temporal = Transformer(d, cfg.n_heads, cfg.temporal_layers, cfg.dropout)
        self.relevance_question = burn_linear(d, d)
        self.relevance_frame = burn_linear(d, d)

    def forward(self, frame_tokens, frame_times, video_index, question):
        hidden, pooled_q, q_padding = question
        videos, frames, cells, d = frame_tokens.shape
        questions, q_len, _ = hidden.shape
        device = frame_tokens.device
        layout = question_layout(video_index, videos, device)
        index = torch.tensor(video_index, dtype=torch.long, device=device)
        queries = self.slot_queries[None] + self.question_to_query(pooled_q)[:, None]  # [q, slots, d]
        values, attention = self.slot_reader(frame_tokens, queries, layout)
        per_frame = self.spatial_norm(values + queries[:, None])  # [q, frames, slots, d]
        slots = per_frame.shape[2]
        # Frame relevance (CLIP-Cut's score): computed by Burn's fuse too; no loss here reads it.
        frame_unit = unit_rows(self.relevance_frame(frame_tokens.mean(2)))[index]
        question_unit = unit_rows(self.relevance_question(pooled_q))[:, None]
        relevance = (frame_unit * question_unit).sum(2)
        times = self.time_embedding(frame_times[index])  # [q, frames, d]
        video = (per_frame + times[:, :, None]).reshape(questions, frames * slots, d)
        seg = self.segment_embedding.weight
        tokens = torch.cat(
            [
                (self.cls + seg[0])[None].expand(questions, 1, d),
                hidden + seg[1],
                video + seg[2],
            ],
            1,
        )
        no_pad = lambda n: torch.zeros(questions, n, dtype=torch.bool, device=device)  # noqa: E731
        padding = torch.cat([no_pad(1), q_padding, no_pad(frames * slots)], 1)
        mixed = self.temporal(tokens, padding)
        return {
            "tokens": mixed,
            "padding": padding,
            "pooled": mixed[:, 0],
            "relevance": relevance,
            "attention": attention,
            "frames": frames,
            "slots": slots,
        }


def select(context, index):
    """fusion.rs `QuestionContext::select`: the rows `index` of every per-question field."""
    out = dict(context)
    for key in ("tokens", "padding", "pooled", "relevance", "attention"):
        out[key] = context[key][index]
    return out


class CandidateScorer(nn.Module):
    """heads.rs `CandidateScorer`: each candidate reads the stage-1 tokens, then an MLP over
    [answer, read, summary, answer * summary]."""

    def __init__(self, cfg):
        super().__init__()
        d = cfg.d_model
        self.read_context = MultiHeadAttention(d, cfg.n_heads)
        self.hidden = burn_linear(4 * d, d)
        self.logit = burn_linear(d, 1)

    def forward(self, context, candidates):
        questions, _, d = context["tokens"].shape
        rows = candidates.shape[0]
        choices = rows // questions
        read = self.read_context(
            candidates.reshape(questions, choices, d), context["tokens"], context["padding"]
        ).reshape(rows, d)
        summary = context["pooled"][:, None].expand(questions, choices, d).reshape(rows, d)
        features = torch.cat([candidates, read, summary, candidates * summary], 1)
        return self.logit(F.gelu(self.hidden(features))).reshape(questions, choices)


class ClassifierHead(nn.Module):
    """heads.rs `ClassifierHead`: Linear, GELU, Linear."""

    def __init__(self, d, classes):
        super().__init__()
        self.hidden = burn_linear(d, d)
        self.logits = burn_linear(d, classes)

    def forward(self, pooled):
        return self.logits(F.gelu(self.hidden(pooled)))


class EventCounter(nn.Module):
    """event_counter.rs with a temporal kernel: a frame's slot tokens side by side, LayerNorm,
    Linear, two Conv1d over time, per-frame evidence, expected count = summed evidence, logits
    -sharpness * (k - expected)^2."""

    def __init__(self, cfg):
        super().__init__()
        d_in = cfg.d_model * cfg.slots
        width = cfg.count_temporal_width
        k = cfg.count_temporal_kernel
        self.input_norm = nn.LayerNorm(d_in, eps=1e-5)
        self.hidden = burn_linear(d_in, width)
        self.temporal = nn.ModuleList(nn.Conv1d(width, width, k, padding=k // 2) for _ in range(2))
        self.evidence = burn_linear(width, 1)
        self.log_sharpness = nn.Parameter(torch.full((1,), EVIDENCE_BESIDE_POOLED_LOG_SHARPNESS))
        self.classes = cfg.count_classes

    def forward(self, slot_tokens):
        questions, frames, tokens, d = slot_tokens.shape
        side_by_side = slot_tokens.reshape(questions, frames, tokens * d)
        hidden = F.gelu(self.hidden(self.input_norm(side_by_side))).transpose(1, 2)  # [q, width, frames]
        for conv in self.temporal:
            hidden = F.gelu(conv(hidden))
        logits = self.evidence(hidden.transpose(1, 2)) + EVIDENCE_PRIOR_LOGIT
        evidence = torch.sigmoid(logits).reshape(questions, frames)
        expected = evidence.sum(1)
        counts = torch.arange(self.classes, device=evidence.device, dtype=evidence.dtype)[None]
        distance = counts - expected[:, None]
        return -distance.pow(2) * self.log_sharpness.exp()[:, None], evidence


class QaModel(nn.Module):
    """qa_model.rs `QaModel` as the demo builds it (see the module doc)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.frame_encoder = FrameEncoder(cfg)
        self.text_encoder = TextEncoder(cfg)
        self.fusion = Fusion(cfg)
        self.candidate_scorer = CandidateScorer(cfg)
        self.answer_head = ClassifierHead(cfg.d_model, cfg.answer_classes)
        self.count_head = ClassifierHead(cfg.d_model, cfg.count_classes)
        self.event_counter = EventCounter(cfg)

    def encode_video(self, frames, times):
        videos, n, c, hgt, wid = frames.shape
        tokens = self.frame_encoder(frames.reshape(videos * n, c, hgt, wid))
        return tokens.reshape(videos, n, tokens.shape[1], tokens.shape[2]), times

    def encode_text(self, ids, padding):
        return self.text_encoder(ids, padding)

    def fuse(self, video, video_index, question):
        return self.fusion(video[0], video[1], video_index, question)

    def choice_logits(self, context, candidates):
        return self.candidate_scorer(context, candidates)

    def fused_choice_logits(self, context, candidates, choices):
        rows = candidates.shape[0]
        return self.candidate_scorer(context, candidates).reshape(rows // choices, choices)

    def answer_logits(self, context):
        return self.answer_head(context["pooled"])

    def count_logits(self, context):
        q = context["tokens"].shape[0]
        video = context["frames"] * context["slots"]
        slot_tokens = context["tokens"][:, -video:].reshape(q, context["frames"], context["slots"], -1)
        events, _ = self.event_counter(slot_tokens)
        return events + self.count_head(context["pooled"])


def parameter_breakdown(model):
    """Parameters per top-level module, and the total."""
    parts = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    return parts, sum(parts.values())
