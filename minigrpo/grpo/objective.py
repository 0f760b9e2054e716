"""The GRPO objective assembled from steps 4 and 5 (DeepSeekMath Eq. 3):

    J(theta) = 1/G sum_i 1/|o_i| sum_t [ min(ratio * A, clip(ratio) * A) - beta * D_KL ]

averaged over the B prompts of the batch. Training minimizes loss = -J.

How the per-token terms x_{i,t} are averaged is a choice (``aggregation``), and it
decides how much each token weighs; N = B*G completions, padding never counts:

    "grpo"     1/N sum_i 1/|o_i| sum_t x_{i,t}       DeepSeekMath Eq. 3: every completion weighs the same,
                                                     so a token of a short completion weighs more
    "dapo"     1/(sum_i |o_i|) sum_i sum_t x_{i,t}   DAPO (Yu et al. 2025, arXiv:2503.14476) Eq. 8, Sec. 3.3:
                                                     every token of the batch weighs the same
    "dr_grpo"  1/(N * L_max) sum_i sum_t x_{i,t}     Dr. GRPO (Liu et al. 2025, arXiv:2503.20783) Sec. 3.2,
                                                     Listing 1: a constant, L_max = the generation budget
                                                     (``max_new_tokens``), so no length enters the weights

These match Hugging Face TRL's GRPOTrainer ``loss_type`` of the same names (its loss is
-J) for one process with the whole batch in one micro-batch, which is the setting here.
TRL's conventions beyond that:
- "dapo" ("the number of active tokens in the global accumulated batch", in TRL's words)
  divides by ``num_items_in_batch``: the real tokens of the whole generation batch,
  summed over all processes (and divided by their number, to undo DDP's gradient averaging),
  counted before ``mask_truncated_completions`` drops truncated completions. So it is the
  token mean over everything one optimizer step sees (when steps_per_generation equals
  gradient_accumulation_steps, the default), and dropped completions still count.
- "dr_grpo" divides by the local micro-batch's completion count times ``max_completion_length``
  (the config's budget, as L_max here, not the longest completion in the batch), then by the
  gradient accumulation steps; "grpo" likewise averages over the local micro-batch.
- TRL's "bnpo" (token mean over the local micro-batch only) equals "dapo" here; it is not repeated.

The ratio is per token (``ratio_level="token"``, Eq. 3) or one per completion
(``"sequence"``, GSPO: ``step4_ratio_clip.gspo_surrogate``); GSPO's own objective is its
surrogate with the "grpo" aggregation (a mean over each completion, then over completions).

Deviations from the paper: none for the defaults. Each completion is averaged over its own
tokens (1/|o_i|) and padding never counts; "dapo", "dr_grpo" and "sequence" are opt-in. With
"sequence" the k3 KL term stays per token (GSPO's paper trains without it).
"""

from __future__ import annotations

import torch

from .step4_ratio_clip import RATIO_LEVELS, clipped_surrogate, gspo_surrogate
from .step5_kl import kl_k3

AGGREGATIONS = ("grpo", "dapo", "dr_grpo")


def masked_completion_mean(per_token: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1/|o_i| sum_t x_{i,t} over real tokens: [B, G, T] and bool mask [B, G, T] -> [B, G]."""
    # where, not multiply: a padding value that is inf or NaN must not leak in as 0 * inf.
    return torch.where(mask, per_token, 0.0).sum(-1) / mask.sum(-1).clamp(min=1)


def aggregate_tokens(
    per_token: torch.Tensor, mask: torch.Tensor, how: str, max_len: int | None = None
) -> torch.Tensor:
    """Average per-token terms [B, G, T] over the real tokens (bool mask [B, G, T]) into a scalar.

    ``how`` is "grpo", "dapo" or "dr_grpo" (see the module docstring); "dr_grpo" needs
    ``max_len``, the most tokens a completion may have (``max_new_tokens``).
    """
    if how not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {how!r}")
    mask = mask.bool()
    if how == "grpo":
        return masked_completion_mean(per_token, mask).mean()
    total = torch.where(mask, per_token, 0.0).sum()
    if how == "dapo":
        return total / mask.sum().clamp(min=1)
    longest = int(mask.sum(-1).max())
    if max_len is None or max_len < longest:
        raise ValueError(f"dr_grpo needs max_len >= the longest completion ({longest} tokens), got {max_len}")
    B, G, _ = mask.shape
    return total / (B * G * max_len)


def grpo_objective(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    adv: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
    clip_eps: float,
    *,
    clip_eps_high: float | None = None,
    aggregation: str = "grpo",
    max_len: int | None = None,
    ratio_level: str = "token",
) -> torch.Tensor:
    """J(theta), a scalar. All tensors [B, G, T]; ref_logp may be None when kl_coef = 0.

    ``clip_eps_high`` is DAPO's upper clip (None: symmetric); ``aggregation`` and ``max_len``
    go to ``aggregate_tokens``; ``ratio_level`` is "token" or "sequence" (GSPO; ``adv`` must
    then be one A_i per completion, broadcast over its tokens).
    """
    if mask.shape != logp.shape:
        raise ValueError(f"mask {tuple(mask.shape)} must match logp {tuple(logp.shape)}")
    if ratio_level not in RATIO_LEVELS:
        raise ValueError(f"ratio_level must be one of {RATIO_LEVELS}, got {ratio_level!r}")
    mask = mask.bool()
    # Zero the padding before any arithmetic: exp() of a garbage value there would put
    # inf or NaN into the gradient even though the masked mean never selects it.
    logp, old_logp, adv = (torch.where(mask, x, 0.0) for x in (logp, old_logp, adv))
    if ratio_level == "sequence":  # variant: GSPO, one clipped ratio per completion
        per_token = gspo_surrogate(logp, old_logp, adv, mask, clip_eps, clip_eps_high)
    else:
        per_token = clipped_surrogate(logp, old_logp, adv, clip_eps, clip_eps_high)
    if kl_coef > 0:
        if ref_logp is None:
            raise ValueError("kl_coef > 0 needs ref_logp")
        per_token = per_token - kl_coef * kl_k3(logp, torch.where(mask, ref_logp, 0.0))
    return aggregate_tokens(per_token, mask, aggregation, max_len)
