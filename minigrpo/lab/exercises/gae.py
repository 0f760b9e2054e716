"""Exercise: generalized advantage estimation over completion tokens (Schulman et al. 2016).

    delta_t = r_t + gamma * V_{t+1} - V_t          (V after the last real token is 0)
    A_t     = sum_{l >= 0} (gamma * lambda)^l * delta_{t+l}
    R_t     = A_t + V_t

mask is True on a prefix of each row (the completion); A and R are 0 on padding, and padding values
(anything, even NaN) must not reach a real token.
Grade it: make exercise NAME=gae. It grades runs/exercises/gae.py, your copy of
the template minigrpo/lab/exercises/gae.py, made the first time: edit the copy, never the template.
"""

from __future__ import annotations

import torch

from minigrpo import checks


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """rewards, values, mask [..., T] -> (advantages, returns), both [..., T] and 0 on padding."""
    checks.inputs(locals(), rewards="float [..., T]", values="float [..., T]", mask="bool [..., T] prefix",
                  gamma="in [0, 1]", lam="in [0, 1]")
    raise NotImplementedError("exercise: write delta, A and R here (and delete this line)")
