"""Exercise: PPO's clipped value loss (PPO2 style), averaged like the policy objective.

    V_clip = V_old + clip(V - V_old, -eps, eps)
    loss   = mean over completions of the mean over real tokens of 1/2 max((V - R)^2, (V_clip - R)^2)

Padding (mask False) must not reach the loss or its gradient, even if it holds NaN.
Grade it: make exercise NAME=clipped_value_loss. It grades runs/exercises/clipped_value_loss.py, your copy of
the template minigrpo/lab/exercises/clipped_value_loss.py, made the first time: edit the copy, never the template.
"""

from __future__ import annotations

import torch

from minigrpo import checks


def clipped_value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
                       clip_eps: float) -> torch.Tensor:
    """values, old_values, returns, mask [B, G, T] -> scalar loss."""
    checks.inputs(locals(), values="float [..., T]", old_values="float [..., T]", returns="float [..., T]",
                  mask="bool [..., T]", clip_eps=">= 0")
    raise NotImplementedError("exercise: write the clipped value loss here (and delete this line)")
