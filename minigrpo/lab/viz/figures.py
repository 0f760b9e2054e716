"""``python -m minigrpo figures``: a GRPO run's figures (with a PPO run, the comparison too), drawn into the run's
folder unless ``--out`` names another (``--out figures``: the book's)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ...checkpoint import load_checkpoint
from ...ppo import ValueModel
from ...task import load_split
from ..runs import read_metrics
from .plots import plot_accuracy_vs_time, plot_grpo_vs_ppo, plot_learning_curves, plot_token_credit
from .token_credit import first_slips, token_credit


def draw_figures(grpo_run: Path, ppo_run: Path, out: Path, seed: int) -> list[Path]:
    """Learning curves of ``grpo_run``; with a finished ``ppo_run`` also GRPO vs PPO, accuracy vs time, token strips."""
    grpo = read_metrics(grpo_run / "metrics.jsonl")
    out.mkdir(parents=True, exist_ok=True)
    written = [plot_learning_curves(grpo, out / "grpo_learning_curves.png")]
    if (ppo_run / "critic.pt").is_file():
        runs = {"GRPO": grpo, "PPO": read_metrics(ppo_run / "metrics.jsonl")}
        written.append(plot_grpo_vs_ppo(runs, out / "grpo_vs_ppo.png"))
        written.append(plot_accuracy_vs_time(runs, out / "accuracy_vs_time.png"))
        written.append(token_credit_figure(ppo_run, out / "token_credit.png", seed))
    return written


def token_credit_figure(ppo_run: Path, path: Path, seed: int) -> Path:
    """Strips for the test problem where the critic best tells a slip from a right step.

    The PPO policy samples, so the critic judges the completions it was trained on. Among
    the first 48 test problems (notebook 8's sample) whose group has right and wrong answers,
    the figure shows the one where the critic's value after the first wrong step of a wrong
    answer falls furthest below its value after the same step of the right answers, outlines
    the wrong steps, and gives the mean of that gap over all such slips: how typical it is.
    """
    policy, _ = load_checkpoint(ppo_run / "policy.pt")
    critic, _ = load_checkpoint(ppo_run / "critic.pt", build=ValueModel)
    problems, G = load_split("test")[:48], 8
    credit = token_credit(policy, critic, problems, G, generator=torch.Generator().manual_seed(seed))
    slips = [s for s in first_slips(credit, problems) if not math.isnan(s.gap_to_right)]  # NaN: no right answer
    if not slips:
        raise ValueError(f"no test problem among the first {len(problems)} has right answers and a wrong one "
                         "with a failed step")
    slip = min(slips, key=lambda s: s.gap_to_right)
    b = slip.row // G
    mean_gap = sum(s.gap_to_right for s in slips) / len(slips)
    title = (f"Who gets the credit? {G} samples of {problems[b].prompt.rstrip(':')} from the PPO policy. Outlined: "
             f"first wrong steps.\nAfter the slip in row {slip.row - b * G + 1}, V is {slip.gap_to_right:+.2f} from "
             f"V after the same step of the right answers: the clearest of {len(slips)} slips in {len(problems)} "
             f"test problems, whose mean is {mean_gap:+.2f}")
    return plot_token_credit(credit, list(range(b * G, (b + 1) * G)), path, title=title, slips=slips)
