"""Step 3 — outcome advantages by group normalization.

    A_{i,t} = \\tilde r_i = (r_i - mean(r)) / (std(r) + eps)    for every token t of o_i

(DeepSeekMath Sec. 4.1.2; the advantage in Eq. 3). The group's mean reward is the
baseline that replaces PPO's learned value function, and the same number is
broadcast over every token of the completion.

Variants (keywords of ``group_advantages``; the defaults are the formula above):

    A_i = (r_i - b_i) / s

    baseline b_i   "mean"           mean(r_1 .. r_G)
                   "leave_one_out"  1/(G-1) sum_{j != i} r_j     (RLOO: Kool et al. 2019, "Buy 4 REINFORCE
                                    Samples, Get a Baseline for Free!"; Ahmadian et al. 2024, "Back to
                                    Basics", arXiv:2402.14740)
    scale s        "group"          std(r_1 .. r_G) + eps
                   "batch"          std of all B*G rewards of the batch + eps   (Liu et al. 2025, "Tricks or
                                    Traps?", arXiv:2508.08221; TRL's scale_rewards="batch")
                   "none"           1                            (Dr. GRPO: Liu et al. 2025, arXiv:2503.20783,
                                    Sec. 3.2: dividing by the group std over-weights too easy and too
                                    hard prompts)

The leave-one-out baseline is the mean baseline rescaled, r_i - mean_{j != i} r_j =
G/(G-1) (r_i - mean(r)): the two point the same way and differ only in step size.

Deviations from the paper:
- std is the sample standard deviation (Bessel-corrected, ``torch.std``), as in
  common implementations; the paper does not say which.
- eps (``adv_eps``, default 1e-4) is added to the std so that a small spread does not
  blow up; the paper has no eps.
- a group whose rewards are all equal carries no signal and gets advantage exactly 0
  (set explicitly, so float rounding in the mean cannot leave a tiny non-zero value),
  whatever the baseline and scale.
"""

from __future__ import annotations

import torch

BASELINES = ("mean", "leave_one_out")
SCALES = ("group", "batch", "none")


def group_advantages(
    rewards: torch.Tensor, eps: float = 1e-4, *, baseline: str = "mean", scale: str = "group"
) -> torch.Tensor:
    """rewards [B, G] -> normalized advantages [B, G] (one per completion)."""
    if rewards.dim() != 2 or rewards.shape[1] < 2:
        raise ValueError(f"rewards must have shape [B, G] with G >= 2, got {tuple(rewards.shape)}")
    if baseline not in BASELINES or scale not in SCALES:
        raise ValueError(f"baseline must be one of {BASELINES} and scale one of {SCALES}, got {baseline!r}, {scale!r}")
    G = rewards.shape[1]
    if baseline == "mean":
        adv = rewards - rewards.mean(dim=1, keepdim=True)
    else:
        adv = rewards - (rewards.sum(dim=1, keepdim=True) - rewards) / (G - 1)
    if scale == "group":
        adv = adv / (rewards.std(dim=1, keepdim=True) + eps)
    elif scale == "batch":
        adv = adv / (rewards.std() + eps)
    has_spread = rewards.amax(dim=1, keepdim=True) > rewards.amin(dim=1, keepdim=True)
    return torch.where(has_spread, adv, torch.zeros_like(adv))


def broadcast_to_tokens(adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """adv [B, G] -> [B, G, T]: every token of o_i gets A_i; padding gets 0."""
    if adv.shape != mask.shape[:2]:
        raise ValueError(f"adv {tuple(adv.shape)} does not match mask {tuple(mask.shape)} in [B, G]")
    return adv[..., None] * mask
