"""Step 3 — outcome advantages by group normalization.

    A_{i,t} = \\tilde r_i = (r_i - mean(r)) / (std(r) + eps)    for every token t of o_i

(DeepSeekMath Sec. 4.1.2; the advantage in Eq. 3). The group's mean reward is the
baseline that replaces PPO's learned value function, and the same number is
broadcast over every token of the completion. With process supervision,
``step3_process_advantages`` takes this step's place. Rewards must be finite floats: a NaN
or inf reward is refused with an error, never zeroed or spread over its group.

Deviations from the paper:
- std is the sample standard deviation (Bessel-corrected, ``torch.std``), as in
  common implementations; the paper does not say which.
- eps (``adv_eps``, default 1e-4) is added to the std so that a small spread does not
  blow up; the paper has no eps.
- a group whose rewards are all equal carries no signal and gets advantage exactly 0
  (set explicitly, so float rounding in the mean cannot leave a tiny non-zero value).
"""

from __future__ import annotations

import torch

from .. import checks


def group_advantages(rewards: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """rewards [B, G] -> normalized advantages [B, G] (one per completion); G >= 2: one alone has no baseline."""
    checks.inputs(locals(), rewards="float [B, G >= 2]", eps=">= 0")
    adv = (rewards - rewards.mean(dim=1, keepdim=True)) / (rewards.std(dim=1, keepdim=True) + eps)
    return torch.where(has_spread(rewards), adv, 0.0)


def has_spread(rewards: torch.Tensor) -> torch.Tensor:
    """[B, G] -> [B, 1]: True where the group's rewards are not all equal."""
    return rewards.amax(dim=1, keepdim=True) > rewards.amin(dim=1, keepdim=True)


def broadcast_to_tokens(adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """adv [B, G] -> [B, G, T]: every token of o_i gets A_i; padding gets 0."""
    checks.inputs(locals(), adv="float [B, G]", mask="bool [B, G, T]")
    return torch.where(mask, adv[..., None], 0.0)


def check_rewards(rewards: torch.Tensor) -> None:
    """The rewards check of ``group_advantages``, for the lab's other advantages: finite floats [B, G], G >= 2."""
    checks.inputs(locals(), rewards="float [B, G >= 2]")
