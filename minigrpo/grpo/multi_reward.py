"""Several reward components per completion: sum then normalize (GRPO) or normalize then sum (GDPO).

Each completion o_i gets K rewards r_{i,k} (say correctness and format) with weights w_k.

GRPO on the weighted sum (GDPO paper Eqs. 1-2, with weights as in its Sec. 3.2):

    r_i = sum_k w_k r_{i,k},    A_i = (r_i - mean(r)) / (std(r) + eps)    over the group (step 3)

GDPO (Liu et al. 2026, "GDPO: Group reward-Decoupled Normalization Policy Optimization
for Multi-reward RL Optimization", arXiv:2601.05242, NVIDIA):

    A_{i,k} = (r_{i,k} - mean_group(r_k)) / (std_group(r_k) + eps)       Eq. 4, each component alone
    S_i     = sum_k w_k A_{i,k}                                         Eq. 7 (Eq. 5 with all w_k = 1)
    A_i     = (S_i - mean_batch(S)) / (std_batch(S) + eps)              Eq. 6, over all B*G completions

Summing first loses information: with G = 2 and two 0/1 rewards, groups whose totals are
(0, 1), (0, 2) or (1, 2) all get advantages (-0.707, 0.707), although satisfying both
rewards should count more than satisfying one. GDPO gives (0, 1) -> (-0.707, 0.707) and
(0, 2) -> (-1.414, 1.414) before the batch step (the paper's Fig. 2). The batch step keeps
the scale of A from growing with K.

Deviations from the paper:
- eps is added to the per-component group std as well (Eq. 4 has none), as in the authors'
  TRL code and in step 3; a component whose rewards are equal within a group contributes 0.
- the batch mean of Eq. 6 is not subtracted: each group's S_i sum to zero, so that mean is
  zero up to rounding, and subtracting the rounding would leave a group with no signal a tiny
  non-zero advantage instead of exactly 0.
- std is the sample std (Bessel-corrected), in both steps, as in the authors' code.
"""

from __future__ import annotations

import torch

from .step3_group_norm import group_advantages


def _check(component_rewards: torch.Tensor, weights: torch.Tensor):
    if component_rewards.dim() != 3 or weights.shape != component_rewards.shape[-1:]:
        raise ValueError(
            f"component_rewards must be [B, G, K] and weights [K], got {tuple(component_rewards.shape)} "
            f"and {tuple(weights.shape)}"
        )


def combined_advantages(
    component_rewards: torch.Tensor,
    weights: torch.Tensor,
    eps: float = 1e-4,
    *,
    baseline: str = "mean",
    scale: str = "group",
) -> torch.Tensor:
    """GRPO: group-normalize r_i = sum_k w_k r_{i,k}. [B, G, K] and [K] -> [B, G].

    ``baseline`` and ``scale`` go to ``group_advantages`` (step 3's variants). With one
    component of weight 1 this is exactly step 3 on that reward.
    """
    _check(component_rewards, weights)
    return group_advantages((component_rewards * weights).sum(-1), eps, baseline=baseline, scale=scale)


def gdpo_advantages(component_rewards: torch.Tensor, weights: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """GDPO: group-normalize each component, weight and sum, divide by the batch std. [B, G, K], [K] -> [B, G]."""
    _check(component_rewards, weights)
    per_component = torch.stack(
        [group_advantages(component_rewards[..., k], eps) for k in range(component_rewards.shape[-1])], dim=-1
    )
    summed = (per_component * weights).sum(-1)
    # where: with no spread in the whole batch every S_i is 0 and so is the std; 0, not 0/0
    return torch.where(summed == 0, 0.0, summed / (summed.std() + eps))
