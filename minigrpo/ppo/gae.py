"""Generalized advantage estimation over completion tokens (Schulman et al. 2016, Eqs. 11-16).

    delta_t = r_t + gamma * V_{t+1} - V_t          (V after the last token is 0: the episode ends)
    A_t     = sum_{l >= 0} (gamma * lambda)^l * delta_{t+l}
    R_t     = A_t + V_t                            (the critic's regression target)

lambda = 0 gives the one-step TD advantage r_t + gamma V_{t+1} - V_t; lambda = 1 gives the
Monte-Carlo return minus the baseline, sum_l gamma^l r_{t+l} - V_t. Unlike GRPO's advantage,
A_t changes along the completion: it is the critic's prefix-level baseline at work.

The sum is written as one product with a [T, T] matrix of discounts instead of the usual
backward loop over tokens; T is small and the formula reads off the code.

Deviations from the paper: none.
"""

from __future__ import annotations

import torch

from .. import checks


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """rewards, values, mask [..., T] -> (advantages, returns), both [..., T] and 0 on padding.

    ``mask`` must be True on a prefix of each row (the completion) and False after it; rewards
    and values must be finite there (padding may hold anything). gamma and lam lie in [0, 1].
    """
    checks.inputs(locals(), rewards="float [..., T]", values="float [..., T]", mask="bool [..., T] prefix",
                  gamma="in [0, 1]", lam="in [0, 1]")
    T = mask.shape[-1]
    values = torch.where(mask, values, 0.0)
    next_values = torch.cat([values[..., 1:], torch.zeros_like(values[..., :1])], dim=-1)  # 0 past the end
    deltas = torch.where(mask, rewards + gamma * next_values - values, 0.0)
    t = torch.arange(T, device=mask.device)
    lag = t[None, :] - t[:, None]  # lag[t, s] = s - t
    discounts = torch.where(lag >= 0, (gamma * lam) ** lag.clamp(min=0).to(deltas.dtype), 0.0)
    advantages = deltas @ discounts.T  # A_t = sum_s discounts[t, s] * delta_s
    returns = torch.where(mask, advantages + values, 0.0)
    return advantages, returns
