"""Means over the real tokens of a batch of completions: padding never counts.

A batch of completions is padded to its longest one; ``mask`` [B, G, T] (or [N, T]) is True
on the tokens a completion really has, its <eos> included, and False on the padding after it.
Every layer averages through these functions, so padding is kept out in one place: always
selected away with ``torch.where``, never multiplied by 0 (0 * NaN is NaN, 0 * inf is NaN).
"""

from __future__ import annotations

import torch

from . import checks


def _checked(per_token: torch.Tensor, mask: torch.Tensor) -> None:
    checks.tensor("per-token values", per_token, "[..., T]", "float")
    checks.tensor("mask", mask, "[..., T]", "bool")
    if per_token.shape != mask.shape:
        raise ValueError(f"per-token values {tuple(per_token.shape)} and mask {tuple(mask.shape)} must match")


def completion_mean(per_token: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1/|o_i| sum_t x_{i,t} over the real tokens of each completion: [..., T] -> [...].

    ``torch.where``, not a product with the mask: a padding value of inf or NaN must not
    leak in as 0 * inf.
    """
    _checked(per_token, mask)
    return torch.where(mask, per_token, 0.0).sum(-1) / mask.sum(-1).clamp(min=1)


def token_mean(per_token: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sum over real tokens / number of real tokens: one scalar, every token of the batch weighs the same."""
    _checked(per_token, mask)
    return torch.where(mask, per_token, 0.0).sum() / mask.sum().clamp(min=1)


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, how: str = "grpo", max_len: int | None = None,
              counts: tuple[float, float] | None = None, world_size: int = 1) -> torch.Tensor:
    """One scalar from per-token values x_{i,t} [B, G, T]: how a loss averages the tokens of a batch.

        grpo     1/N sum_i 1/|o_i| sum_t x_{i,t}     every completion weighs the same (DeepSeekMath Eq. 3)
        dapo     sum_i sum_t x_{i,t} / sum_i |o_i|    every token weighs the same (DAPO Eq. 8)
        dr_grpo  sum_i sum_t x_{i,t} / (N L_max)      a constant denominator, L_max = ``max_len`` (Dr. GRPO)

    N completions and sum_i |o_i| real tokens are this batch's; when the batch is split over R = ``world_size``
    processes, ``counts`` = (N, sum_i |o_i|) of the whole batch, and each process returns R times its shard's part of
    the whole batch's average, so that the mean over processes (of the value and of its gradient) is the whole
    batch's (``minigrpo/lab/scale``).
    """
    _checked(per_token, mask)
    if how == "grpo":
        per_completion = completion_mean(per_token, mask)
        return per_completion.mean() if counts is None else world_size * per_completion.sum() / counts[0]
    if how == "dapo":
        if counts is None:
            return token_mean(per_token, mask)
        return world_size * torch.where(mask, per_token, 0.0).sum() / max(counts[1], 1.0)
    if how != "dr_grpo":
        raise ValueError(f"how must be 'grpo', 'dapo' or 'dr_grpo', got {how!r}")
    longest = int(mask.sum(-1).max())
    if max_len is None or max_len < longest:
        raise ValueError(f"dr_grpo needs max_len >= the longest completion ({longest} tokens), got {max_len}")
    completions = mask.shape[0] * mask.shape[1] if counts is None else counts[0]
    return world_size * torch.where(mask, per_token, 0.0).sum() / (completions * max_len)


def whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8, center: bool = True,
           mean_std=None) -> torch.Tensor:
    """(x - mean) / (std + eps) over the real tokens of the whole batch; 0 on padding.

    ``center=False`` only divides by the std: every sign, and every 0, is kept. The std of
    one value is undefined, so at least two real tokens are needed. ``mean_std(values)`` -> (mean, sample std)
    of the real values: this batch's by default; over every process of a data-parallel run, the lab's
    ``World.mean_std``.
    """
    _checked(x, mask)
    checks.number("eps", eps, low=0)
    if mask.sum() < 2:
        raise ValueError(f"whiten needs at least two real tokens, got {int(mask.sum())}")
    checks.finite("x", x, mask)
    x = torch.where(mask, x, 0.0)  # padding garbage out before the arithmetic, so not even its gradient is NaN
    real = x[mask]
    mean, std = (real.mean(), real.std()) if mean_std is None else mean_std(real)
    return torch.where(mask, (x - mean * center) / (std + eps), 0.0)
