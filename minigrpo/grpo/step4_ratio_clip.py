"""Step 4 — probability ratio and the clipped surrogate.

    ratio_{i,t} = pi_theta(o_{i,t} | q, o_{i,<t}) / pi_old(o_{i,t} | q, o_{i,<t})
                = exp(logp - old_logp)
    surrogate_{i,t} = min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)

(the term inside DeepSeekMath Eq. 3, from PPO Eq. 1). The min is taken for both
signs of A: with A > 0 the gradient stops once ratio > 1 + eps, with A < 0 it stops
once ratio < 1 - eps. Taking a max, or clipping only one side, is a known bug.

Clip-higher (DAPO, Yu et al. 2025, arXiv:2503.14476, Sec. 3.1, Eq. 10): the upper
bound gets its own eps, clip(ratio, 1 - eps_low, 1 + eps_high), so that unlikely
tokens with A > 0 can grow further before the clip stops them (DAPO uses 0.2 / 0.28).
``clip_eps`` is eps_low, ``clip_eps_high`` is eps_high; None means eps_high = eps_low.

GSPO (Zheng et al. 2025, "Group Sequence Policy Optimization", arXiv:2507.18071)
replaces the token ratio by one ratio per completion, the geometric mean of its
token ratios (Eq. 7), and clips that (Eq. 5):

    s_i = (pi_theta(o_i | q) / pi_old(o_i | q))^(1/|o_i|) = exp( 1/|o_i| sum_t (logp - old_logp) )
    J_GSPO = 1/G sum_i min(s_i A_i, clip(s_i, 1 - eps, 1 + eps) A_i)

Its gradient (without clipping) is s_i A_i * 1/|o_i| sum_t grad log pi_theta(o_{i,t}):
every token of o_i gets the same weight, and once s_i is clipped the whole completion
stops contributing. Because s_i averages log-ratios, it stays much closer to 1 than
token ratios do: the paper clips at 1 - 3e-4 and 1 + 4e-4 (Sec. 5.1), not 0.2.

Deviations from the paper: none.
"""

from __future__ import annotations

import torch

RATIO_LEVELS = ("token", "sequence")


def _check_same_shape(**tensors):
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"shapes must match: {shapes}")


def _clip_bounds(clip_eps: float, clip_eps_high: float | None) -> tuple[float, float]:
    return 1 - clip_eps, 1 + (clip_eps if clip_eps_high is None else clip_eps_high)


def _clipped_min(ratio, adv, clip_eps, clip_eps_high):
    low, high = _clip_bounds(clip_eps, clip_eps_high)
    return torch.minimum(ratio * adv, torch.clamp(ratio, low, high) * adv)


def probability_ratio(logp: torch.Tensor, old_logp: torch.Tensor) -> torch.Tensor:
    """exp(logp - old_logp), same shape as the inputs ([B, G, T])."""
    _check_same_shape(logp=logp, old_logp=old_logp)
    return torch.exp(logp - old_logp)


def clipped_surrogate(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    adv: torch.Tensor,
    clip_eps: float,
    clip_eps_high: float | None = None,
) -> torch.Tensor:
    """Per-token min(ratio * A, clip(ratio, 1-eps_low, 1+eps_high) * A): all [B, G, T]."""
    _check_same_shape(logp=logp, old_logp=old_logp, adv=adv)
    return _clipped_min(probability_ratio(logp, old_logp), adv, clip_eps, clip_eps_high)


def clip_fraction(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    adv: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float,
    clip_eps_high: float | None = None,
    ratio_level: str = "token",
) -> float:
    """Fraction of completion tokens whose gradient the clip removes.

    That is ratio > 1 + eps_high with A > 0, or ratio < 1 - eps_low with A < 0, where the
    ratio is the token's own, or its completion's s_i with ``ratio_level="sequence"`` (GSPO).
    """
    if ratio_level not in RATIO_LEVELS:
        raise ValueError(f"ratio_level must be one of {RATIO_LEVELS}, got {ratio_level!r}")
    low, high = _clip_bounds(clip_eps, clip_eps_high)
    if ratio_level == "sequence":
        ratio = sequence_ratio(logp, old_logp, mask)
    else:
        ratio = probability_ratio(logp, old_logp)
    clipped = ((ratio > high) & (adv > 0)) | ((ratio < low) & (adv < 0))
    return (clipped & mask).sum().item() / max(mask.sum().item(), 1)


def sequence_ratio(logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """GSPO's s_i on every real token of o_i, 0 on padding: all [B, G, T]."""
    _check_same_shape(logp=logp, old_logp=old_logp, mask=mask)
    mask = mask.bool()
    # where before exp: a garbage (inf, NaN) padding log-prob must reach neither s_i nor the gradient.
    log_ratio = torch.where(mask, logp - old_logp, 0.0)
    mean_log_ratio = log_ratio.sum(-1, keepdim=True) / mask.sum(-1, keepdim=True).clamp(min=1)
    return torch.where(mask, torch.exp(mean_log_ratio), 0.0)


def gspo_surrogate(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    adv: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float,
    clip_eps_high: float | None = None,
) -> torch.Tensor:
    """min(s_i A_i, clip(s_i) A_i) on every real token of o_i, 0 on padding: all [B, G, T].

    ``adv`` is A_i broadcast over the tokens (``broadcast_to_tokens``). Averaged over each
    completion's tokens ("grpo" aggregation) it gives J_GSPO exactly.
    """
    _check_same_shape(logp=logp, old_logp=old_logp, adv=adv, mask=mask)
    mask = mask.bool()
    s = sequence_ratio(logp, old_logp, mask)
    per_token = _clipped_min(s, torch.where(mask, adv, 0.0), clip_eps, clip_eps_high)
    return torch.where(mask, per_token, 0.0)
