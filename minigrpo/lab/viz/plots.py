"""Figures: learning curves of a run, and token strips comparing per-token credit."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

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


STRIPS = [
    ("outcome_adv", "(a) GRPO, outcome supervision: one advantage per completion", "RdBu"),
    ("process_adv", "(b) GRPO, process supervision: each token gets its own and later steps' rewards", "RdBu"),
    ("values", "(c) PPO critic: V(q, o_<t), the expected reward before token t", "viridis"),
    ("gae_adv", "(d) PPO: GAE advantage from the critic's values", "RdBu"),
]


def plot_token_credit(credit, rows: list[int], path: str | Path, title: str | None = None, slips=()) -> Path:
    """Aligned token strips: one row per completion, one cell per token, one panel per kind of credit.

    ``credit`` is a ``token_credit.TokenCredit``; ``rows`` picks the completions to show; each
    ``analysis.Slip`` in ``slips`` whose row is shown is outlined in every panel. The three advantage
    panels share one colour scale, so their sizes compare (process advantages are up to n times larger).
    """
    T = max(len(credit.tokens[r]) for r in rows)
    shown = credit.mask[rows, :T]
    adv_max = max(max(getattr(credit, key)[rows, :T][shown].abs().max().item() for key, _, _ in STRIPS
                      if key != "values"), 1e-6)
    fig, axes = plt.subplots(len(STRIPS), 1, figsize=(0.42 * T + 2.5, len(STRIPS) * (0.42 * len(rows) + 0.8)))
    for ax, (key, label, cmap) in zip(axes, STRIPS):
        data = getattr(credit, key)[rows, :T].double()
        mask = credit.mask[rows, :T]
        vmin, vmax = (0.0, 1.0) if key == "values" else (-adv_max, adv_max)
        image = np.ma.masked_array(data.numpy(), mask=~mask.numpy())
        ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        for y, r in enumerate(rows):
            for x, tok in enumerate(credit.tokens[r][:T]):
                ax.text(x, y, "$" if tok == "<eos>" else tok, ha="center", va="center", fontsize=9,
                        family="monospace")
        for slip in slips:
            if slip.row in rows:
                ax.add_patch(Rectangle((slip.start - 0.5, rows.index(slip.row) - 0.5), slip.end - slip.start + 1, 1,
                                       fill=False, edgecolor="black", linewidth=2))
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([("right " if credit.rewards[r] > 0 else "wrong ") + credit.prompts[r].rstrip(":")
                            for r in rows], family="monospace", fontsize=8)
        ax.set_xticks(range(T))
        ax.set_xticklabels(range(T), fontsize=6)
        ax.set_title(label, fontsize=10, loc="left")
        fig.colorbar(ax.images[0], ax=ax, fraction=0.02, pad=0.01)
    top = 1.0
    if title:
        fig.suptitle(title)
        top -= 0.25 * (title.count("\n") + 1) / fig.get_figheight()  # room for every line of the title
    fig.tight_layout(rect=(0, 0, 1, top))
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_grpo_vs_ppo(runs: dict[str, list[dict]], path: str | Path) -> Path:
    """Held-out accuracy against step and against training seconds, and mean reward, per run."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for name, metrics in runs.items():
        evals = [r for r in metrics if "test_accuracy" in r]
        seconds, elapsed = {}, 0.0
        for r in metrics:
            elapsed += r.get("wall_s", 0.0)
            seconds[r["step"]] = elapsed
        axes[0].plot([r["step"] for r in evals], [r["test_accuracy"] for r in evals], marker="o", markersize=3,
                     label=name)
        axes[1].plot([seconds[r["step"]] for r in evals], [r["test_accuracy"] for r in evals], marker="o",
                     markersize=3, label=name)
        steps = [r for r in metrics if "reward_mean" in r]
        axes[2].plot([r["step"] for r in steps], _smooth([r["reward_mean"] for r in steps]), label=name)
    for ax, (title, xlabel) in zip(axes, [("held-out greedy accuracy", "step"),
                                         ("held-out greedy accuracy", "training seconds (evaluation excluded)"),
                                         ("mean sampled reward (smoothed over 20 steps)", "step")]):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _smooth(values: list[float], window: int = 20) -> list[float]:
    return [float(np.mean(values[max(0, i - window + 1) : i + 1])) for i in range(len(values))]


def accuracy_vs_seconds(metrics: list[dict]) -> tuple[list[float], list[float]]:
    """(training seconds, held-out accuracy) at each evaluation of a run, in step order.

    The seconds at an evaluation are the sum of ``wall_s`` over the steps up to and including
    it; ``wall_s`` excludes evaluation, so the clock counts training only and the accuracy
    before training sits at 0 s.
    """
    steps = [r["step"] for r in metrics]
    if steps != sorted(set(steps)):
        raise ValueError("metrics must hold each step once, in increasing order")
    seconds, accuracy, elapsed = [], [], 0.0
    for r in metrics:
        elapsed += r.get("wall_s", 0.0)
        if "test_accuracy" in r:
            seconds.append(elapsed)
            accuracy.append(r["test_accuracy"])
    return seconds, accuracy


def plot_accuracy_vs_time(runs: dict[str, list[dict]], path: str | Path) -> Path:
    """Held-out accuracy against training seconds, one curve per run (learning efficiency).

    ``runs`` maps a name to its metrics; compare runs from the same warm start on the same machine.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, metrics in runs.items():
        seconds, accuracy = accuracy_vs_seconds(metrics)
        step_seconds = [r["wall_s"] for r in metrics if "wall_s" in r]
        ax.plot(seconds, accuracy, marker="o", markersize=3,
                label=f"{name}: {len(step_seconds)} steps in {seconds[-1]:.0f} s "
                      f"(median {np.median(step_seconds):.2f} s per step)")
    ax.set_xlabel("training seconds (sum of per-step wall_s)")
    ax.set_ylabel("held-out greedy accuracy")
    ax.set_title("Accuracy against wall-clock time, from the same warm start", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.text(0.01, 0.01, "Each point is one evaluation on the test split; the clock counts training steps only, "
             "evaluation time excluded.", fontsize=7, va="bottom")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
