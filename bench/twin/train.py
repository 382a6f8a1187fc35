"""Trains the PyTorch twin for N steps the way `trainer train` does, and prints questions/s.

The step mirrors trainer/src/batch.rs `forward` and trainer/src/parallel.rs `share_gradients`
(one device): every clip of the batch is encoded once; every question is fused once, a caption
question once per candidate (fused captions); multiple-choice questions go to the candidate scorer
(action and transition candidates encoded as texts of their own), FrameQA to the word head, Count
to the pooled head plus the event counter; the loss is the sum over heads of each head's mean
cross-entropy (the multiple-choice groups share one divisor). Then AdamW (betas 0.9/0.999,
epsilon 1e-5 as Burn's default, weight decay 0.01) after clipping every parameter's gradient to
norm 1 separately (Burn's `GradientClippingConfig::Norm(1.0)` clips per parameter), with linear
warm-up then cosine decay to 5% (trainer/src/schedule.rs).

The auxiliary losses of the demo (attention, object and count supervision) need the generator's
annotations and are left out; compare.sh runs Burn without them too.

Questions/s is counted like Burn's: all questions of all steps over the wall time of all steps
(loading batches included). The figure after the first step (warm-up) is printed beside it.
"""

import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import TrainSet  # noqa: E402
from model import Config, QaModel, parameter_breakdown, select  # noqa: E402


def warmup_cosine(peak, warmup, step, total):
    """trainer/src/schedule.rs `warmup_cosine` without a time budget."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(max((step - warmup) / max(total - warmup, 1), 0.0), 1.0)
    return peak * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def summed_cross_entropy(logits, targets):
    return -F.log_softmax(logits, 1).gather(1, targets[:, None]).sum()


def batch_loss(model, data, batch, device):
    """Forward of one batch and its loss (batch.rs `forward` + the head losses); returns
    (loss, right answers, questions)."""
    pixels, buckets, questions = batch
    cfg = model.cfg
    tok = data.tokenizer
    frames = torch.from_numpy(pixels).to(device, non_blocking=True)
    times = torch.from_numpy(buckets).to(device, non_blocking=True)
    video = model.encode_video(frames, times)

    fused = lambda item: item["qtype"] == "caption"  # noqa: E731  (fuses_candidates with fused captions)
    row_texts, video_index, first_row = [], [], []
    for v, item in questions:
        first_row.append(len(row_texts))
        texts = item["candidates"] if fused(item) else [item["question"]]
        row_texts += texts
        video_index += [v] * len(texts)
    as_long = lambda xs: torch.tensor(xs, dtype=torch.long, device=device)  # noqa: E731

    def encode(texts):
        ids, padding = tok.encode_batch(texts, cfg.max_text_len)
        return model.encode_text(torch.from_numpy(ids).to(device), torch.from_numpy(padding).to(device))

    question_encoding = encode(row_texts)
    rows_context = model.fuse(video, video_index, question_encoding)
    context = rows_context if len(row_texts) == len(questions) else select(rows_context, as_long(first_row))

    heads = []  # (kind, logits, targets)
    groups = sorted({(len(it["candidates"]), fused(it)) for _, it in questions if it["candidates"]})
    for count, fused_group in groups:
        picked = [i for i, (_, it) in enumerate(questions) if len(it["candidates"]) == count and fused(it) == fused_group and it["candidates"]]
        if fused_group:
            rows = as_long([r for i in picked for r in range(first_row[i], first_row[i] + count)])
            logits = model.fused_choice_logits(select(rows_context, rows), question_encoding[1][rows], count)
        else:
            candidates = [c for i in picked for c in questions[i][1]["candidates"]]
            logits = model.choice_logits(select(context, as_long(picked)), encode(candidates)[1])
        heads.append((("choice", count), logits, [questions[i][1]["answer"] for i in picked]))
    word = [i for i, (_, it) in enumerate(questions) if it["qtype"] == "frameqa"]
    if word:
        logits = model.answer_logits(select(context, as_long(word)))
        targets = [data.answer_index.get(questions[i][1]["answer"].strip().lower()) for i in word]
        heads.append((("word",), logits, targets))
    count_rows = [i for i, (_, it) in enumerate(questions) if it["qtype"] == "count"]
    if count_rows:
        logits = model.count_logits(select(context, as_long(count_rows)))
        targets = [min(questions[i][1]["answer"], cfg.count_classes - 1) for i in count_rows]
        heads.append((("count",), logits, targets))

    divisors = {}
    for kind, _, targets in heads:
        divisors[kind] = divisors.get(kind, 0) + sum(t is not None for t in targets)
    loss, right = None, 0
    for kind, logits, targets in heads:
        keep = [r for r, t in enumerate(targets) if t is not None]
        if not keep:
            continue
        target = as_long([targets[r] for r in keep])
        term = summed_cross_entropy(logits[as_long(keep)], target) / divisors[kind]
        loss = term if loss is None else loss + term
        # Burn tallies right answers every step (an argmax read back to the host): so does the twin.
        right += int((logits[as_long(keep)].argmax(1) == target).sum())
    return loss, right, len(questions)


def clip_per_parameter(params, max_norm=1.0):
    """Burn's GradientClippingConfig::Norm: each parameter's gradient scaled to norm <= max_norm."""
    grads = [p.grad for p in params if p.grad is not None]
    norms = torch._foreach_norm(grads)
    scales = [torch.clamp(max_norm / (n + 1e-6), max=1.0) for n in norms]
    torch._foreach_mul_(grads, scales)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-gifs", type=int, default=16)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch threads (default: the cores this process may use)")
    parser.add_argument("--run-steps", type=int, default=None, help="stop after this many of the epoch's steps (profiling runs; compare.sh runs them all)")
    parser.add_argument("--profile", type=int, default=0, help="also profile this many steps after the run (torch.profiler) and print the top operators")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    t0 = time.perf_counter()
    # `--max-gifs steps * batch` and one epoch: the same GIFs and step count as the Burn run.
    data = TrainSet(args.data, args.steps * args.batch_gifs)
    cfg = Config(vocab_size=len(data.tokenizer), answer_classes=max(1, len(data.answers)))
    model = QaModel(cfg).to(device)
    model.train()
    parts, total = parameter_breakdown(model)
    print(f"twin: {len(data.names)} GIFs / {data.questions} questions; torch {torch.__version__} on {device} ({args.threads} threads); {total} parameters", flush=True)
    print("twin parameters: " + ", ".join(f"{k} {v}" for k, v in parts.items()), flush=True)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-5, weight_decay=0.01)
    total_steps = math.ceil(len(data.names) / args.batch_gifs)
    run_steps = total_steps if args.run_steps is None else min(args.run_steps, total_steps)
    print(f"twin: data ready in {time.perf_counter() - t0:.1f}s", flush=True)

    phases = {"data": [], "forward": [], "backward": [], "optimiser": []}
    seen, right_sum, loss_sum = [], 0, 0.0
    step_times = []
    started = time.perf_counter()
    batches = data.batches(args.batch_gifs, args.frames, args.seed)
    for step in range(run_steps):
        t_start = time.perf_counter()
        batch = next(batches)
        t_data = time.perf_counter()
        loss, right, questions = batch_loss(model, data, batch, device)
        loss_value = float(loss.detach())  # Burn reads the loss back before its backward too
        t_forward = time.perf_counter()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        sync()
        t_backward = time.perf_counter()
        clip_per_parameter(params)
        for group in optimiser.param_groups:
            group["lr"] = warmup_cosine(args.lr, args.warmup, step, total_steps)
        optimiser.step()
        sync()
        t_end = time.perf_counter()
        for name, (a, b) in {"data": (t_start, t_data), "forward": (t_data, t_forward), "backward": (t_forward, t_backward), "optimiser": (t_backward, t_end)}.items():
            phases[name].append(b - a)
        seen.append(questions)
        step_times.append(t_end - t_start)
        right_sum += right
        loss_sum += loss_value
        print(f"twin step {step + 1}/{total_steps}: {questions} questions, loss {loss_value:.3f}, {t_end - t_start:.2f}s", flush=True)
    seconds = time.perf_counter() - started
    qps = sum(seen) / seconds
    after = sum(seen[1:]) / max(sum(step_times[1:]), 1e-9) if len(seen) > 1 else float("nan")
    print(f"twin: {run_steps} steps, {sum(seen)} questions in {seconds:.1f}s: {qps:.2f} questions/s "
          f"({after:.2f} after the first step); mean loss {loss_sum / run_steps:.3f}", flush=True)
    mean = lambda xs: 1000 * float(np.mean(xs[1:] if len(xs) > 1 else xs))  # noqa: E731
    print("twin per step after the first (ms): " + ", ".join(f"{k} {mean(v):.0f}" for k, v in phases.items()), flush=True)
    print(f"RESULT twin questions_per_s={qps:.4f} after_warmup={after:.4f} params={total} steps={run_steps} questions={sum(seen)}", flush=True)

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        batches = data.batches(args.batch_gifs, args.frames, args.seed + 1)
        with profile(activities=activities) as prof:
            for _ in range(min(args.profile, total_steps)):  # a fresh epoch order: other batches
                loss, _, _ = batch_loss(model, data, next(batches), device)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                clip_per_parameter(params)
                optimiser.step()
                sync()
        key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
        print(prof.key_averages().table(sort_by=key, row_limit=25), flush=True)


if __name__ == "__main__":
    main()
