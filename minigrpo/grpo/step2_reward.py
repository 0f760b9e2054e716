"""Step 2 — score every completion of the group.

Outcome supervision: one reward r_i per completion (DeepSeekMath Sec. 4.1.2).
Process supervision: one reward r_i^{index(j)} per reasoning step j, where
index(j) is the token index at which step j ends (Sec. 4.1.3).

A reward function is anything with the signature below (a verifier here, but a
reward model or a judge would do): GRPO only sees the numbers, which are checked
here so a bad reward stops training with a clear message. A reward function must
return one finite number per completion, a step function a list of ``StepScore``;
anything else (None, NaN, a list where a number belongs, an outcome function where
a step function belongs) is a ValueError that names the function and what it returned.

Deviations from the paper: none. The <eos> token belongs to the last step, so
under process supervision it is trained like the rest of the completion.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Real

import torch

from .. import checks
from ..rewards import StepScore
from .step1_sampling import Group

OutcomeFn = Callable[..., float]
StepFn = Callable[..., Sequence[StepScore]]


def score_outcomes(reward_fn: OutcomeFn, group: Group) -> torch.Tensor:
    """r_i = reward_fn(q, o_i) for every completion: rewards [B, G]."""
    checks.inputs(locals(), reward_fn=callable, group=Group)
    rows = [[_reward(reward_fn(problem, text), reward_fn, text) for text in texts]
            for problem, texts in zip(group.problems, group.texts)]
    return torch.tensor(rows, dtype=torch.float32, device=group.mask.device)


def score_steps(step_fn: StepFn, group: Group):
    """Per-step rewards and the token index where each step ends.

    Returns step_rewards [B, G, S] (float), step_ends [B, G, S] (long, a token index
    in [0, T)), step_mask [B, G, S] (True on real steps), S = the most steps in any
    completion. One token per character, so a step's last character index is its
    token index; the last step is extended to the <eos> when there is one.
    """
    checks.inputs(locals(), step_fn=callable, group=Group)
    B, G, T = group.mask.shape
    lengths = group.mask.sum(-1).tolist()  # tokens per completion, <eos> included
    per_completion = []
    for b, (problem, texts) in enumerate(zip(group.problems, group.texts)):
        for g, text in enumerate(texts):
            rewards, ends = _steps(step_fn(problem, text), step_fn, text)
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


def _name(fn) -> str:
    return getattr(fn, "__qualname__", None) or checks.excerpt(fn)


def _reward(value, fn, text: str, what: str = "reward function") -> float:
    """One finite number, or a ValueError naming the function, the completion and what came back."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if not isinstance(value, Real):
        got = f"a {type(value).__name__} of length {len(value)}" if isinstance(value, (list, tuple)) else \
            checks.excerpt(value)  # a list: a batched reward function, or a step function
        raise ValueError(f"{what} {_name(fn)} returned {got} for {checks.excerpt(text)}; expected one finite number")
    if not math.isfinite(value):
        raise ValueError(f"{what} {_name(fn)} returned a non-finite reward ({value}) for {checks.excerpt(text)}")
    return float(value)


def _steps(scores, fn, text: str) -> tuple[list[float], list[int]]:
    """(rewards, ends) of a step function's StepScores, or a ValueError naming it, the completion and what came back."""
    if not isinstance(scores, Sequence) or not all(isinstance(s, StepScore) for s in scores):
        raise ValueError(f"step function {_name(fn)} returned {checks.excerpt(scores)} for {checks.excerpt(text)}; "
                         "expected a list of StepScore (an outcome reward function where a step function belongs?)")
    ends = [s.end for s in scores]
    if not scores or ends != sorted(set(ends)) or ends[-1] != len(text) - 1:
        raise ValueError(f"step function {_name(fn)} on {checks.excerpt(text)} must return steps whose ends increase "
                         f"and finish at the last character (index {len(text) - 1}); got ends {checks.excerpt(ends)}")
    return [_reward(s.reward, fn, text, "step function") for s in scores], ends
