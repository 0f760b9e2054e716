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
    checks.tensor("logp", logp, "[..., T]", "float")
    checks.tensor("old_logp", old_logp, "[..., T]", "float")
    if logp.shape != old_logp.shape:
        raise ValueError(f"logp {tuple(logp.shape)} and old_logp {tuple(old_logp.shape)} must match")
    checks.finite("logp", logp)
    checks.finite("old_logp", old_logp)
    return torch.exp(logp - old_logp)


def clipped_surrogate(ratio: torch.Tensor, adv: torch.Tensor, clip_eps: float) -> torch.Tensor:
    """min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A) per token: [B, G, T] and [B, G, T] -> [B, G, T]."""
    check_surrogate_inputs(ratio, adv, clip_eps=clip_eps)
    return torch.minimum(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv)


def check_surrogate_inputs(ratio: torch.Tensor, adv: torch.Tensor, **clip_bounds: float) -> None:
    """ratio and adv: finite floats of one shape, [B, G, T]; each clip bound a finite number >= 0."""
    checks.tensor("ratio", ratio, "[..., T]", "float")
    checks.tensor("adv", adv, "[..., T]", "float")
    if ratio.shape != adv.shape:
        raise ValueError(f"ratio {tuple(ratio.shape)} and adv {tuple(adv.shape)} must match")
    for name, bound in clip_bounds.items():
        checks.number(name, bound, low=0)
    checks.finite("ratio", ratio)  # inf when logp - old_logp overflows exp: the policy has run away
    checks.finite("adv", adv)
