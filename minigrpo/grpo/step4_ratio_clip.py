"""Step 4 — probability ratio and the clipped surrogate.

    ratio_{i,t} = pi_theta(o_{i,t} | q, o_{i,<t}) / pi_old(o_{i,t} | q, o_{i,<t})
                = exp(logp - old_logp)
    surrogate_{i,t} = min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)

(the term inside DeepSeekMath Eq. 3, from PPO Eq. 1). The min is taken for both
signs of A: with A > 0 the gradient stops once ratio > 1 + eps, with A < 0 it stops
once ratio < 1 - eps. Taking a max, or clipping only one side, is a known bug.

Deviations from the paper: none.
"""

from __future__ import annotations

import torch


def _check_same_shape(**tensors):
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"shapes must match: {shapes}")


def probability_ratio(logp: torch.Tensor, old_logp: torch.Tensor) -> torch.Tensor:
    """exp(logp - old_logp), same shape as the inputs ([B, G, T])."""
    _check_same_shape(logp=logp, old_logp=old_logp)
    return torch.exp(logp - old_logp)


def clipped_surrogate(
    logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, clip_eps: float
) -> torch.Tensor:
    """Per-token min(ratio * A, clip(ratio, 1-eps, 1+eps) * A): all [B, G, T]."""
    _check_same_shape(logp=logp, old_logp=old_logp, adv=adv)
    ratio = probability_ratio(logp, old_logp)
    clipped = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps)
    return torch.minimum(ratio * adv, clipped * adv)


def clip_fraction(
    logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, clip_eps: float
) -> float:
    """Fraction of completion tokens whose gradient the clip removes.

    That is ratio > 1 + eps with A > 0, or ratio < 1 - eps with A < 0.
    """
    ratio = probability_ratio(logp, old_logp)
    clipped = ((ratio > 1 + clip_eps) & (adv > 0)) | ((ratio < 1 - clip_eps) & (adv < 0))
    return (clipped & mask).sum().item() / max(mask.sum().item(), 1)
