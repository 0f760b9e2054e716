"""Step 3, process supervision — advantages from per-step rewards, in place of group normalization.

Normalize every step reward with the mean and std of all step rewards of the
group (all steps of all G completions of the same prompt),

    \\tilde r_i^{index(j)} = (r_i^{index(j)} - mean(R)) / (std(R) + eps),

then give each token the sum of the normalized rewards of the steps that end at
or after it (DeepSeekMath Sec. 4.1.3):

    A_{i,t} = sum_{index(j) >= t} \\tilde r_i^{index(j)}.

A token is credited for its own step and every later one: a failed step's penalty
reaches the tokens up to its end and none after. A completion of K steps thus sums up to
K normalized rewards on its first tokens, about K times an outcome advantage: compare
the two on one colour scale, knowing that.

Padding step slots (``step_mask`` False) may hold anything: they are selected away with
``torch.where`` before any arithmetic, so even a NaN there changes nothing. Real step rewards
must be finite.

Deviations from the paper: the std / eps / zero-spread conventions of ``step3_group_norm``
(sample std, eps added, a group with all step rewards equal, or with fewer than two real steps,
gets exactly 0).
"""

from __future__ import annotations

import torch

from .. import checks


def normalize_step_rewards(step_rewards: torch.Tensor, step_mask: torch.Tensor, eps: float = 1e-4):
    """[B, G, S] -> [B, G, S], normalized over the G * S real steps of each prompt; 0 on padding."""
    checks.inputs(locals(), step_rewards="float [B, G, S]", step_mask="bool [B, G, S]", eps=">= 0")
    count = step_mask.sum(dim=(1, 2), keepdim=True)
    real = torch.where(step_mask, step_rewards, 0.0)  # selected, not multiplied: 0 * NaN would be NaN
    mean = real.sum(dim=(1, 2), keepdim=True) / count.clamp(min=1)
    centered = torch.where(step_mask, step_rewards - mean, 0.0)
    var = (centered**2).sum(dim=(1, 2), keepdim=True) / (count - 1).clamp(min=1)
    normalized = centered / (var.sqrt() + eps)
    masked_max = step_rewards.masked_fill(~step_mask, -torch.inf).amax(dim=(1, 2), keepdim=True)
    masked_min = step_rewards.masked_fill(~step_mask, torch.inf).amin(dim=(1, 2), keepdim=True)
    return torch.where(masked_max > masked_min, normalized, torch.zeros_like(normalized))


def process_advantages(
    step_rewards: torch.Tensor,
    step_ends: torch.Tensor,
    step_mask: torch.Tensor,
    T: int,
    eps: float = 1e-4,
) -> torch.Tensor:
    """step_rewards, step_ends, step_mask [B, G, S] -> adv [B, G, T].

    step_ends holds index(j), the token index in [0, T) where step j ends.
    """
    checks.inputs(locals(), step_rewards="float [B, G, S]", step_ends="int [B, G, S] in [0, T)",
                  step_mask="bool [B, G, S]", T="int >= 1", eps=">= 0")
    normalized = normalize_step_rewards(step_rewards, step_mask, eps)  # [B, G, S]
    t = torch.arange(T, device=step_ends.device)
    ends_at_or_after = step_ends[..., None, :] >= t[:, None]  # [B, G, T, S]: index(j) >= t
    return torch.where(ends_at_or_after, normalized[..., None, :], 0.0).sum(-1)
