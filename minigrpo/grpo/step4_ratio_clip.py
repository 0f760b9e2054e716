"""Step 4 — probability ratio and the clipped surrogate.

    ratio_{i,t} = pi_theta(o_{i,t} | q, o_{i,<t}) / pi_old(o_{i,t} | q, o_{i,<t}) = exp(logp - old_logp)
    surrogate_{i,t} = min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)

(the term inside DeepSeekMath Eq. 3, from PPO's Eq. 7; PPO uses it unchanged). The min
is taken for both signs of A: with A > 0 the gradient stops once ratio > 1 + eps, with
A < 0 it stops once ratio < 1 - eps. Taking a max, or clipping only one side, is a known bug.

At the first inner step pi_theta = pi_old, so the ratio is exactly 1 and the surrogate's
value is just A; its gradient is still A * grad log pi_theta, the policy gradient.

Deviations from the paper: none.
"""

from __future__ import annotations

import torch

from .. import checks


def probability_ratio(logp: torch.Tensor, old_logp: torch.Tensor) -> torch.Tensor:
    """exp(logp - old_logp): [B, G, T] and [B, G, T] -> [B, G, T]."""
    checks.inputs(locals(), logp="float [..., T]", old_logp="float [..., T]")
    return torch.exp(logp - old_logp)


def clipped_surrogate(ratio: torch.Tensor, adv: torch.Tensor, clip_eps: float) -> torch.Tensor:
    """min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A) per token: [B, G, T] and [B, G, T] -> [B, G, T].

    A ratio of inf (logp - old_logp overflowed exp: the policy has run away) is refused, not clipped.
    """
    checks.inputs(locals(), ratio="float [..., T]", adv="float [..., T]", clip_eps=">= 0")
    return torch.minimum(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv)


def check_surrogate_inputs(ratio: torch.Tensor, adv: torch.Tensor, **clip_bounds: float) -> None:
    """The checks of ``clipped_surrogate`` with any clip bounds, for the lab's clip-higher (which has two)."""
    checks.inputs({"ratio": ratio, "adv": adv, **clip_bounds}, ratio="float [..., T]", adv="float [..., T]",
                  **dict.fromkeys(clip_bounds, ">= 0"))
