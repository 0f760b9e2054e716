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
    checks.inputs(locals(), rewards="float [B, G]", old_logp="float [B, G, T]", mask="bool [B, G, T]", kl_coef=">= 0",
                  ref_logp="float [B, G, T] or None" if kl_coef == 0 else "float [B, G, T]")
    last = mask.sum(-1, keepdim=True) - 1  # index of each completion's last token (its <eos>)
    is_last = torch.arange(mask.shape[-1], device=mask.device) == last
    token_rewards = torch.where(is_last, rewards[..., None], 0.0)
    if kl_coef > 0:
        token_rewards = token_rewards - kl_coef * (old_logp - ref_logp)
    return torch.where(mask, token_rewards, 0.0)
