"""Step 2 — score every completion of the group.

Outcome supervision: one reward r_i per completion (DeepSeekMath Sec. 4.1.2).
Process supervision: one reward r_i^{index(j)} per reasoning step j, where
index(j) is the token index at which step j ends (Sec. 4.1.3).

A reward function is anything with the signature below (a verifier here, but a
reward model or a judge would do): GRPO only sees the numbers, which are checked
for count and finiteness here so a bad reward stops training with a clear message.

Deviations from the paper: none. The <eos> token belongs to the last step, so
under process supervision it is trained like the rest of the completion.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from ..rewards import StepScore
from .step1_sampling import Group

OutcomeFn = Callable[..., float]
StepFn = Callable[..., Sequence[StepScore]]


def _checked(value, what: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} returned a non-finite reward ({value})")
    return value


def score_outcomes(reward_fn: OutcomeFn, group: Group) -> torch.Tensor:
    """r_i = reward_fn(q, o_i) for every completion: rewards [B, G]."""
    rows = []
    for problem, texts in zip(group.problems, group.texts):
        rows.append([_checked(reward_fn(problem, text), f"reward function on {text!r}") for text in texts])
    return torch.tensor(rows, dtype=torch.float32, device=group.mask.device)


def score_steps(step_fn: StepFn, group: Group):
    """Per-step rewards and the token index where each step ends.

    Returns step_rewards [B, G, S] (float), step_ends [B, G, S] (long, a token index
    in [0, T)), step_mask [B, G, S] (True on real steps), S = the most steps in any
    completion. One token per character, so a step's last character index is its
    token index; the last step is extended to the <eos> when there is one.
    """
    B, G, T = group.mask.shape
    lengths = group.mask.sum(-1).tolist()  # tokens per completion, <eos> included
    per_completion = []
    for b, (problem, texts) in enumerate(zip(group.problems, group.texts)):
        for g, text in enumerate(texts):
            scores = list(step_fn(problem, text))
            ends = [s.end for s in scores]
            if not scores or ends != sorted(set(ends)) or ends[-1] != len(text) - 1:
                raise ValueError(
                    f"step function on {text!r} must return steps whose ends increase and "
                    f"finish at the last character (index {len(text) - 1}); got ends {ends}"
                )
            rewards = [_checked(s.reward, f"step function on {text!r}") for s in scores]
            ends[-1] = lengths[b][g] - 1  # the <eos> (or the last token if truncated)
            per_completion.append((rewards, ends))
    S = max(len(r) for r, _ in per_completion)
    step_rewards = torch.zeros(B * G, S)
    step_ends = torch.zeros(B * G, S, dtype=torch.long)
    step_mask = torch.zeros(B * G, S, dtype=torch.bool)
    for i, (rewards, ends) in enumerate(per_completion):
        step_rewards[i, : len(rewards)] = torch.tensor(rewards)
        step_ends[i, : len(ends)] = torch.tensor(ends)
        step_mask[i, : len(ends)] = True
    device = group.mask.device
    return (
        step_rewards.view(B, G, S).to(device),
        step_ends.view(B, G, S).to(device),
        step_mask.view(B, G, S).to(device),
    )
