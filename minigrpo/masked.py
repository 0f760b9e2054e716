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


def whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8, center: bool = True) -> torch.Tensor:
    """(x - mean) / (std + eps) over the real tokens of the whole batch; 0 on padding.

    ``center=False`` only divides by the std: every sign, and every 0, is kept. The std of
    one value is undefined, so at least two real tokens are needed.
    """
    _checked(x, mask)
    checks.number("eps", eps, low=0)
    if mask.sum() < 2:
        raise ValueError(f"whiten needs at least two real tokens, got {int(mask.sum())}")
    checks.finite("x", x, mask)
    x = torch.where(mask, x, 0.0)  # padding garbage out before the arithmetic, so not even its gradient is NaN
    real = x[mask]
    return torch.where(mask, (x - real.mean() * center) / (real.std() + eps), 0.0)
