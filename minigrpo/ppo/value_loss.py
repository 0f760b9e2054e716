"""The critic's loss: clipped value regression to the GAE returns.

    L^V = 1/2 * max( (V - R)^2, (V_old + clip(V - V_old, -eps_v, eps_v) - R)^2 )

per token, averaged like the policy objective (per completion, then over the batch).
V_old are the values at sampling time; the clip keeps one batch from moving the critic
far, as the ratio clip does for the policy (PPO2's value clipping, used by OpenAI's
baselines and most RLHF libraries; the PPO paper itself has an unclipped squared error).

Deviations from the paper: the clip, as noted; with mu = 1 it never binds (V = V_old at the only step).
"""

from __future__ import annotations

import torch

from .. import checks
from ..masked import completion_mean


def clipped_value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, clip_eps: float
) -> torch.Tensor:
    """values, old_values, returns, mask [B, G, T] -> scalar loss."""
    checks.inputs(locals(), values="float [..., T]", old_values="float [..., T]", returns="float [..., T]",
                  mask="bool [..., T]", clip_eps=">= 0")
    # padding out before the squares: otherwise its gradient would be 0 * (NaN - R), not 0
    values, old_values, returns = (torch.where(mask, x, 0.0) for x in (values, old_values, returns))
    clipped = old_values + torch.clamp(values - old_values, -clip_eps, clip_eps)
    per_token = 0.5 * torch.maximum((values - returns) ** 2, (clipped - returns) ** 2)
    return completion_mean(per_token, mask).mean()


def critic_metrics(value_loss: torch.Tensor, old_values, returns, mask) -> dict[str, float]:
    """For the log: the last value loss, and how much of the returns' variance V_old explains."""
    return {"value_loss": value_loss.item(), "explained_variance": explained_variance(old_values, returns, mask)}


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """1 - Var(R - V) / Var(R) over real tokens: 1 is a perfect critic, 0 no better than a constant."""
    checks.inputs(locals(), values="float [..., T]", returns="float [..., T]", mask="bool [..., T]")
    residual, target = (returns - values)[mask], returns[mask]
    return (1 - residual.var() / target.var().clamp(min=1e-12)).item()
