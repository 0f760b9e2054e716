"""PPO's reward: the outcome at the last token, and the KL penalty folded into every token.

    r_t = -beta * (log pi_old(o_t | q, o_<t) - log pi_ref(o_t | q, o_<t)) + [t = |o|] * r(q, o)

(the per-token KL penalty of RLHF PPO: Ziegler et al. 2019, Ouyang et al. 2022 Eq. 2;
DeepSeekMath Eq. 2). The KL estimate here is k1 = log(pi / pi_ref) of the sampled token, and
it is part of the reward, so GAE and the critic see it and its effect is delayed like any
reward. GRPO instead subtracts beta * k3 (step 5) directly from the objective (Eq. 3): the
KL gradient acts on each token at once, and the advantage stays a pure function of r(q, o).

Deviations from the paper: none (DeepSeekMath Eq. 2 is this reward, without naming the estimator).
"""

from __future__ import annotations

import torch

from .. import checks


def kl_penalized_rewards(
    rewards: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    mask: torch.Tensor,
    kl_coef: float,
) -> torch.Tensor:
    """rewards [B, G] (one per completion), old_logp, ref_logp, mask [B, G, T] -> per-token rewards [B, G, T].

    ``ref_logp`` may be None when kl_coef = 0. Padding gets 0.
    """
    checks.tensor("rewards", rewards, "[B, G]", "float")
    checks.tensor("old_logp", old_logp, "[B, G, T]", "float")
    checks.tensor("mask", mask, "[B, G, T]", "bool")
    if rewards.shape != mask.shape[:2] or old_logp.shape != mask.shape:
        raise ValueError(f"rewards {tuple(rewards.shape)}, old_logp {tuple(old_logp.shape)} and mask "
                         f"{tuple(mask.shape)} must be [B, G], [B, G, T], [B, G, T]")
    checks.number("kl_coef", kl_coef, low=0)
    checks.finite("rewards", rewards)
    checks.finite("old_logp", old_logp, mask)  # padding may hold anything: it is selected away
    if ref_logp is not None:
        checks.tensor("ref_logp", ref_logp, "[B, G, T]", "float")
        if ref_logp.shape != mask.shape:
            raise ValueError(f"ref_logp {tuple(ref_logp.shape)} and mask {tuple(mask.shape)} must match")
        checks.finite("ref_logp", ref_logp, mask)
    last = mask.sum(-1, keepdim=True) - 1  # index of each completion's last token (its <eos>)
    is_last = torch.arange(mask.shape[-1], device=mask.device) == last
    token_rewards = torch.where(is_last, rewards[..., None], 0.0)
    if kl_coef > 0:
        if ref_logp is None:
            raise ValueError("kl_coef > 0 needs ref_logp")
        token_rewards = token_rewards - kl_coef * (old_logp - ref_logp)
    return torch.where(mask, token_rewards, 0.0)
