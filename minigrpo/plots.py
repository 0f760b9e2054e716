"""Figures: learning curves of a run (more plots arrive with the PPO comparison)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

PANELS = [
    ("test_accuracy", "held-out greedy accuracy"),
    ("reward_mean", "mean reward (outcome)"),
    ("kl", "KL to pi_ref (k3, per token)"),
    ("zero_spread_frac", "fraction of zero-spread groups"),
]


def plot_learning_curves(metrics: list[dict], path: str | Path, title: str = "GRPO from the warm start") -> Path:
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4 * len(PANELS), 3.2))
    for ax, (key, label) in zip(axes, PANELS):
        points = [(r["step"], r[key]) for r in metrics if key in r]
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, marker="o" if key == "test_accuracy" else None, markersize=3)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("GRPO step")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
