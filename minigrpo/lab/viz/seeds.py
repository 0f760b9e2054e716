"""Learning curves over seeds: the mean held-out accuracy of each method with its 95% band, against training steps
and against wall-clock minutes, read from the results file's records."""

from __future__ import annotations

import statistics
from pathlib import Path

import matplotlib.pyplot as plt

from ..experiments.results import mean_interval


def band(records: list[dict], x: str) -> tuple[list[float], list[float], list[float]]:
    """(x, mean accuracy, 95% half-width) at each evaluation the seeds share; x is the step, or the minutes of
    training it took at the run's median step time (averaged over seeds): on a shared machine other jobs slow some
    steps, never the median much. The half-width is 0 where one seed has no interval."""
    steps = sorted(set.intersection(*({a["step"] for a in r["accuracy"]} for r in records)))
    xs, means, halves = [], [], []
    for step in steps:
        points = [next(a for a in r["accuracy"] if a["step"] == step) for r in records]
        mean, half = mean_interval([p["accuracy"] for p in points])
        xs.append(step if x == "step" else step * statistics.mean(r["median_step_s"] for r in records) / 60)
        means.append(mean)
        halves.append(0.0 if half != half else half)
    return xs, means, halves


def series_band(records: list[dict], metric: str) -> tuple[list[int], list[float], list[float]]:
    """(step, mean, 95% half-width) of a logged metric's window means (the record's series) over seeds, at the
    windows every seed logged; ([], [], []) where a run did not log it."""
    if not all(metric in r["series"] for r in records):
        return [], [], []
    n = min(len(r["series"]["step"]) for r in records)
    steps, means, halves = records[0]["series"]["step"][:n], [], []
    for i in range(n):
        mean, half = mean_interval([r["series"][metric][i] for r in records])
        means.append(mean)
        halves.append(0.0 if half != half else half)
    return steps, means, halves


def plot_seed_bands(methods: dict[str, list[dict]], path: Path, title: str) -> Path:
    """One line and band per method ({label: records}): accuracy against steps and against minutes, and the
    policy's entropy per token over training (does RL sharpen the policy, and how fast?)."""
    fig, axes = plt.subplots(1, 3, figsize=(17, 4))
    for k, (label, records) in enumerate(methods.items()):
        curves = [band(records, "step"), band(records, "minutes"), series_band(records, "entropy")]
        for ax, (xs, means, halves) in zip(axes, curves):
            ax.plot(xs, means, marker=".", color=f"C{k}", label=f"{label} ({len(records)} seeds)")
            ax.fill_between(xs, [m - h for m, h in zip(means, halves)], [m + h for m, h in zip(means, halves)],
                            color=f"C{k}", alpha=0.15)
    axes[0].set(xlabel="training step", ylabel="greedy held-out accuracy", title="accuracy against steps")
    axes[1].set(xlabel="minutes of training (steps x median step time, 2-core CPU)", title="accuracy against time")
    axes[2].set(xlabel="training step", ylabel="nats per token (10-step mean)", title="entropy of the sampling policy")
    for ax in axes[:2]:
        ax.set_ylim(0, 1)  # a band of few seeds can reach past what an accuracy can be; the axis shows what can
    axes[2].set_ylim(bottom=0)
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title + " (bands: 95% t-interval of the mean over seeds)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_difficulty(path: Path, out: Path) -> dict[str, list[tuple[int, float, float]]]:
    """Each credit method's gain over GRPO outcome against the number of steps in the chain, on the primary metric
    and on the final accuracy, with Welch's 95% interval (``tables.credit_tests``); returns what it plots,
    {"metric / method": [(steps, difference, half-width), ...]}, and writes the figure to ``out``."""
    from ..experiments.plans import PLAN_TASKS
    from ..experiments.tables import credit_tests

    metrics = ("mean accuracy over training (primary)", "final accuracy")
    drawn: dict[str, list[tuple[int, float, float]]] = {}
    for test in credit_tests(path):
        if test["metric"] in metrics and "difference" in test:
            steps = int(PLAN_TASKS.get(test["plan"], "steps3").removeprefix("steps"))
            half = 0.0 if test["half"] != test["half"] else test["half"]
            drawn.setdefault(f"{test['metric']} / {test['method']}", []).append((steps, test["difference"], half))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    methods = sorted({key.split(" / ")[1] for key in drawn})
    for ax, metric in zip(axes, metrics):
        for k, method in enumerate(methods):
            points = sorted(drawn.get(f"{metric} / {method}", []))
            if points:
                xs, ys, hs = zip(*points)
                ax.errorbar([x + 0.08 * (k - len(methods) / 2) for x in xs], ys, yerr=hs, marker="o", capsize=3,
                            color=f"C{k + 1}", label=method)
        ax.axhline(0, color="gray", linewidth=1)
        ax.set(xlabel="steps in the chain", title=metric, xticks=[3, 5, 7])
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("minus GRPO outcome's (95% interval)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return drawn
