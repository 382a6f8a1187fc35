#!/usr/bin/env python3
"""Runs the ablations of docs/results/ablations.md: `trainer eval` over sampling strategies, clip
aggregation x clip count, and over model folders trained with one thing changed. Writes a JSON of
every report, a markdown table and a plot (needs matplotlib).

Usage:
  ablations.py --trainer BIN --data DIR --split Test --max-gifs 300 --out docs/results/ablations \
      --model www/model [--models LABEL=DIR ...] [--skip-inference]

Inference ablations use --model; each --models entry is evaluated with its own default sampling.
Finished evaluations are cached in OUT.json, so an interrupted run resumes.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

TYPES = ["action", "transition", "count", "frameqa", "caption"]
SAMPLING = ["uniform:16", "uniform:8", "sparse:1x8", "keyframes", "weighted:16", "dropout:16", "mean:16", "clipcut:8"]
AGGREGATION = [(f"sparse:{clips}x8", agg) for clips in (1, 2, 4) for agg in ("mean", "max", "lse")]


def evaluate(args, model, sample=None, aggregation="mean"):
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        cmd = [args.trainer, "eval", "--data", args.data, "--model", model, "--split", args.split,
               "--max-gifs", str(args.max_gifs), "--aggregation", aggregation, "--report", report]
        if sample:
            cmd += ["--sample", sample]
        print("+", " ".join(cmd), flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr.strip(), file=sys.stderr)
            return None
        print(done.stdout.strip().splitlines()[0], flush=True)
        with open(report) as f:
            return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trainer", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="Test")
    parser.add_argument("--max-gifs", type=int, default=300)
    parser.add_argument("--model", required=True, help="model for the inference ablations")
    parser.add_argument("--models", nargs="*", default=[], help="LABEL=DIR trained variants")
    parser.add_argument("--skip-inference", action="store_true")
    parser.add_argument("--out", required=True, help="output prefix: OUT.json, OUT.md, OUT.png")
    args = parser.parse_args()

    cache_path = args.out + ".json"
    results = json.load(open(cache_path)) if os.path.exists(cache_path) else {"rows": []}
    results["setup"] = {"data": args.data, "split": args.split, "max_gifs": args.max_gifs, "model": args.model}
    done = {(r["group"], r["label"]) for r in results["rows"]}

    jobs = []
    if not args.skip_inference:
        jobs += [("sampling", s, args.model, s, "mean") for s in SAMPLING]
        jobs += [("aggregation", f"{s.split(':')[1].split('x')[0]} clips, {a}", args.model, s, a) for s, a in AGGREGATION]
    for spec in args.models:
        label, folder = spec.split("=", 1)
        jobs.append(("training", label, folder, None, "mean"))

    for group, label, model, sample, agg in jobs:
        if (group, label) in done:
            continue
        report = evaluate(args, model, sample, agg)
        if report is None:
            continue
        results["rows"].append({"group": group, "label": label, "model": model, "sample": sample,
                                "aggregation": agg, "report": report})
        with open(cache_path + ".tmp", "w") as f:
            json.dump(results, f, indent=1)
        os.replace(cache_path + ".tmp", cache_path)

    write_table(results, args.out + ".md")
    write_plot(results, args.out + ".png")


def cell(report, qtype):
    r = report.get(qtype)
    if r is None:
        return "-"
    text = f"{100 * r['accuracy']:.1f}"
    if qtype == "count" and r.get("mae") is not None:
        text += f" ({r['mae']:.2f})"
    return text


def write_table(results, path):
    lines = []
    for group in ("sampling", "aggregation", "training"):
        rows = [r for r in results["rows"] if r["group"] == group]
        if not rows:
            continue
        lines += [f"### {group}", "", "| variant | " + " | ".join(TYPES) + " |", "|---" * (len(TYPES) + 1) + "|"]
        lines += [f"| {r['label']} | " + " | ".join(cell(r["report"], t) for t in TYPES) + " |" for r in rows]
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [g for g in ("sampling", "aggregation", "training") if any(r["group"] == g for r in results["rows"])]
    fig, axes = plt.subplots(len(groups), 1, figsize=(11, 3.2 * len(groups)), squeeze=False)
    for ax, group in zip(axes[:, 0], groups):
        rows = [r for r in results["rows"] if r["group"] == group]
        width = 0.8 / len(TYPES)
        for i, qtype in enumerate(TYPES):
            values = [100 * r["report"].get(qtype, {}).get("accuracy", 0) for r in rows]
            ax.bar([x + i * width for x in range(len(rows))], values, width, label=qtype)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(rows))], [r["label"] for r in rows], fontsize=8)
        ax.set_ylabel("accuracy %")
        ax.set_title(group)
        ax.set_ylim(0, 100)
    axes[0, 0].legend(ncol=len(TYPES), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
