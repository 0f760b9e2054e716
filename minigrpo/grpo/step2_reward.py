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

from ..rewards import StepScore
from .step1_sampling import Group

OutcomeFn = Callable[..., float]
StepFn = Callable[..., Sequence[StepScore]]


def _name(fn) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _check_args(fn, what: str, group: Group) -> None:
    """fn callable; group a Group whose problems and texts are [B] and [B][G] like its mask."""
    if not callable(fn):
        raise TypeError(f"{what} must be callable as {what}(problem, completion), got {type(fn).__name__}")
    if not isinstance(group, Group):
        raise TypeError(f"group must be a Group (from sample_group), got {type(group).__name__}")
    B, G = group.mask.shape[:2]
    if B * G == 0:
        raise ValueError(f"group is empty (B = {B} prompts of G = {G} completions): there is nothing to score")
    if len(group.problems) != B or len(group.texts) != B or any(len(texts) != G for texts in group.texts):
        raise ValueError(f"group has {len(group.problems)} problems and {[len(t) for t in group.texts]} texts per "
                         f"problem; its mask says B = {B} prompts of G = {G}")


def _checked(value, fn, what: str, text: str) -> float:
    """One finite number, or a ValueError naming the function, the completion and what came back."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if not isinstance(value, Real):
        got = f"{value!r:.80}"
        if isinstance(value, (list, tuple)):  # a batched reward function, or a step function
            got = f"a {type(value).__name__} of length {len(value)}"
        raise ValueError(f"{what} {_name(fn)} returned {got} for {text!r}; expected one finite number")
    if not math.isfinite(value):
        raise ValueError(f"{what} {_name(fn)} returned a non-finite reward ({value}) for {text!r}")
    return float(value)


def score_outcomes(reward_fn: OutcomeFn, group: Group) -> torch.Tensor:
    """r_i = reward_fn(q, o_i) for every completion: rewards [B, G]."""
    _check_args(reward_fn, "reward_fn", group)
    rows = []
    for problem, texts in zip(group.problems, group.texts):
        rows.append([_checked(reward_fn(problem, text), reward_fn, "reward function", text) for text in texts])
    return torch.tensor(rows, dtype=torch.float32, device=group.mask.device)


def score_steps(step_fn: StepFn, group: Group):
    """Per-step rewards and the token index where each step ends.

    Returns step_rewards [B, G, S] (float), step_ends [B, G, S] (long, a token index
    in [0, T)), step_mask [B, G, S] (True on real steps), S = the most steps in any
    completion. One token per character, so a step's last character index is its
    token index; the last step is extended to the <eos> when there is one.
    """
    _check_args(step_fn, "step_fn", group)
    B, G, T = group.mask.shape
    lengths = group.mask.sum(-1).tolist()  # tokens per completion, <eos> included
    per_completion = []
    for b, (problem, texts) in enumerate(zip(group.problems, group.texts)):
        for g, text in enumerate(texts):
            scores = step_fn(problem, text)
            if not isinstance(scores, Sequence) or not all(isinstance(s, StepScore) for s in scores):
                raise ValueError(f"step function {_name(step_fn)} returned {scores!r:.80} for {text!r}; expected a "
                                 "list of StepScore (an outcome reward function where a step function belongs?)")
            ends = [s.end for s in scores]
            if not scores or ends != sorted(set(ends)) or ends[-1] != len(text) - 1:
                raise ValueError(
                    f"step function {_name(step_fn)} on {text!r} must return steps whose ends increase and "
                    f"finish at the last character (index {len(text) - 1}); got ends {ends}"
                )
            rewards = [_checked(s.reward, step_fn, "step function", text) for s in scores]
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
