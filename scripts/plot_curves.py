#!/usr/bin/env python3
"""Plots learning curves from one or more model folders' training.json (needs matplotlib).

Usage: plot_curves.py OUT.png LABEL=RUN[+RUN...] [LABEL=RUN[+RUN...] ...]

A RUN is a model folder or a training.json file; RUNs joined by `+` are one lineage (a run
started with `--init` from the one before), plotted end to end.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TYPES = ["action", "transition", "count", "frameqa", "caption"]


def load_history(run):
    path = run if run.endswith(".json") else f"{run}/training.json"
    return json.load(open(path))["history"]


def main():
    out, runs = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
    fig, axes = plt.subplots(1, len(TYPES) + 1, figsize=(4 * (len(TYPES) + 1), 3.4))
    for label, lineage in runs:
        history = [record for run in lineage.split("+") for record in load_history(run)]
        hours = []
        total = 0.0
        for record in history:
            total += record["seconds"] / 3600
            hours.append(total)
        axes[0].plot(hours, [r["train_loss"] for r in history], marker="o", label=label)
        for ax, qtype in zip(axes[1:], TYPES):
            ax.plot(hours, [100 * r["val_accuracy"].get(qtype, 0) for r in history], marker="o", label=label)
    axes[0].set_title("training loss")
    for ax, qtype in zip(axes[1:], TYPES):
        ax.set_title(f"val {qtype} accuracy (%)")
        chance = {"action": 20, "transition": 20, "caption": 20}.get(qtype)
        if chance:
            ax.axhline(chance, color="grey", linestyle=":", label="chance")
    for ax in axes:
        ax.set_xlabel("CPU training hours (2 cores)")
        ax.grid(alpha=0.3)
    axes[-1].legend()
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
