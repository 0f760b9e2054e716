"""Exercise: generalized advantage estimation over completion tokens (Schulman et al. 2016).

    delta_t = r_t + gamma * V_{t+1} - V_t          (V after the last real token is 0)
    A_t     = sum_{l >= 0} (gamma * lambda)^l * delta_{t+l}
    R_t     = A_t + V_t

mask is True on a prefix of each row (the completion); A and R are 0 on padding, and padding values
(anything, even NaN) must not reach a real token.
Grade it: python -m pytest tests/test_ppo_gae.py --student gae
"""

from __future__ import annotations

import torch

from minigrpo import checks


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """rewards, values, mask [..., T] -> (advantages, returns), both [..., T] and 0 on padding."""
    checks.tensor("mask", mask, "[..., T]", "bool")
    checks.same_shape(rewards=rewards, values=values, mask=mask)
    checks.number("gamma", gamma, low=0, high=1)
    checks.number("lam", lam, low=0, high=1)
    if (mask[..., 1:] & ~mask[..., :-1]).any():
        raise ValueError("mask must be True on a prefix of each row (the completion) and False after it")
    checks.finite("rewards", rewards, mask)
    checks.finite("values", values, mask)
    raise NotImplementedError("exercise: write delta, A and R here (and delete this line)")
