"""The GRPO objective assembled from steps 4 and 5 (DeepSeekMath Eq. 3):

    J(theta) = 1/G sum_i 1/|o_i| sum_t [ min(ratio * A, clip(ratio) * A) - beta * D_KL ]

averaged over the B prompts of the batch. Training minimizes loss = -J.

Deviations from the paper: none. Each completion is averaged over its own tokens
(1/|o_i|) and padding never counts; issue #5 adds the DAPO / Dr. GRPO alternatives.
"""

from __future__ import annotations

import torch

from .step4_ratio_clip import clipped_surrogate
from .step5_kl import kl_k3


def masked_completion_mean(per_token: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1/|o_i| sum_t x_{i,t} over real tokens: [B, G, T] and bool mask [B, G, T] -> [B, G]."""
    # where, not multiply: a padding value that is inf or NaN must not leak in as 0 * inf.
    return torch.where(mask, per_token, 0.0).sum(-1) / mask.sum(-1).clamp(min=1)


def grpo_objective(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    adv: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
    clip_eps: float,
) -> torch.Tensor:
    """J(theta), a scalar. All tensors [B, G, T]; ref_logp may be None when kl_coef = 0."""
    if mask.shape != logp.shape:
        raise ValueError(f"mask {tuple(mask.shape)} must match logp {tuple(logp.shape)}")
    mask = mask.bool()
    # Zero the padding before any arithmetic: exp() of a garbage value there would put
    # inf or NaN into the gradient even though the masked mean never selects it.
    logp, old_logp, adv = (torch.where(mask, x, 0.0) for x in (logp, old_logp, adv))
    per_token = clipped_surrogate(logp, old_logp, adv, clip_eps)
    if kl_coef > 0:
        if ref_logp is None:
            raise ValueError("kl_coef > 0 needs ref_logp")
        per_token = per_token - kl_coef * kl_k3(logp, torch.where(mask, ref_logp, 0.0))
    return masked_completion_mean(per_token, mask).mean()
