"""What the GRPO and PPO loops log each step (docs/conventions.md, "Logged metrics"): one definition for both."""

from __future__ import annotations

import torch

from .masked import completion_mean


def clip_fraction(ratio: torch.Tensor, adv: torch.Tensor, surrogate: torch.Tensor, mask: torch.Tensor) -> float:
    """Fraction of completion tokens whose gradient the clip removes: all [B, G, T] -> a number.

    The clipped surrogate takes min(ratio A, clip(ratio) A); where the clipped term is strictly
    smaller it is a constant, so the token has no gradient. That is ratio > 1 + eps with A > 0,
    or ratio < 1 - eps with A < 0, whichever ratio (token or sequence) and bounds were used.
    ``ratio`` must be the very tensor the surrogate was computed from: a recomputed one rounds
    differently, and the comparison is exact.
    """
    clipped = surrogate < ratio * adv
    return (clipped & mask).sum().item() / max(mask.sum().item(), 1)


def step_metrics(rewards, adv, mask, kl, clip_fracs: list[float], objective, grad_norm,
                 entropy=None) -> dict[str, float]:
    """rewards [B, G]; adv, mask and kl [B, G, T] of the last inner step, and its objective and gradient norm;
    ``entropy`` [B, G, T], the sampling policy's entropy at each token (``Group.entropy``), when there is one.

    Where the learning signal is: ``zero_spread_frac`` of the groups have all rewards equal (GRPO gives
    them no advantage at all), ``adv_nonzero_frac`` of the tokens have an advantage other than 0, and
    ``adv_abs_mean`` is the mean |A_{i,t}| over the tokens, the size of the push.
    """
    real = mask.sum().clamp(min=1).item()
    return {
        "reward_mean": rewards.mean().item(),
        "reward_std": rewards.std(dim=1).mean().item(),
        "zero_spread_frac": (rewards.amax(1) == rewards.amin(1)).float().mean().item(),
        "adv_nonzero_frac": ((adv != 0) & mask).sum().item() / real,
        "adv_abs_mean": torch.where(mask, adv.abs(), 0.0).sum().item() / real,
        "kl": completion_mean(kl.detach(), mask).mean().item(),
        "clip_frac": sum(clip_fracs) / len(clip_fracs),
        "completion_len": mask.sum(-1).float().mean().item(),
        "loss": -objective.item(),
        "grad_norm": grad_norm.item(),
        **({"entropy": completion_mean(entropy, mask).mean().item()} if entropy is not None else {}),
    }
