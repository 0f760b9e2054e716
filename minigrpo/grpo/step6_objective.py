"""Step 6 — the GRPO objective, assembled from steps 4 and 5 (DeepSeekMath Eq. 3):

    J(theta) = 1/G sum_i 1/|o_i| sum_t [ min(ratio A, clip(ratio, 1 - eps, 1 + eps) A) - beta D_KL ]

averaged over the B prompts of the batch. Training minimizes loss = -J. Each completion
is averaged over its own tokens (1/|o_i|), so every completion weighs the same, and a
token of a short completion more than a token of a long one. PPO averages its surrogate
the same way, with no KL term: its KL is in the reward (``ppo/kl_reward.py``).

Deviations from the paper: none. Padding never counts (``masked.aggregate``, which also
holds the other averages libraries use: DAPO's and Dr. GRPO's).
"""

from __future__ import annotations

import torch

from .. import checks
from ..masked import aggregate


def grpo_objective(surrogate: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """J(theta), a scalar, from the per-token surrogate (step 4) and KL (step 5): all [B, G, T]."""
    check_objective_inputs(surrogate, kl, mask, kl_coef)
    return aggregate(surrogate - kl_coef * kl, mask, "grpo")


def check_objective_inputs(surrogate: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, kl_coef: float) -> None:
    """All [B, G, T], finite on the real tokens (padding may hold anything), and beta a finite number >= 0."""
    checks.tensor("surrogate", surrogate, "[B, G, T]", "float")
    checks.tensor("kl", kl, "[B, G, T]", "float")
    checks.tensor("mask", mask, "[B, G, T]", "bool")
    if not surrogate.shape == kl.shape == mask.shape:
        raise ValueError(f"surrogate {tuple(surrogate.shape)}, kl {tuple(kl.shape)} and mask {tuple(mask.shape)} "
                         "must match")
    checks.number("kl_coef", kl_coef, low=0)
    checks.finite("surrogate", surrogate, mask)
    checks.finite("kl", kl, mask)
