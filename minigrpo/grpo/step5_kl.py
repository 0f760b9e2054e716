"""Step 5 — the KL to pi_ref, per token: DeepSeekMath's k3, and the other estimators libraries use.

    k3 = pi_ref / pi_theta - log(pi_ref / pi_theta) - 1      (DeepSeekMath Eq. 4; the default)
       = exp(ref_logp - logp) - (ref_logp - logp) - 1

(Schulman's "Approximating KL divergence", k3). With tokens sampled from pi_theta it is an
unbiased estimate of KL(pi_theta || pi_ref) (E[pi_ref / pi_theta] = 1) and never negative
(x - log x - 1 >= 0). The ratio is pi_ref over pi_theta: the inverse is a known bug.

GRPO differentiates the estimate as part of its loss, so what training feels is the estimator's
*gradient*, not its value. For tokens sampled from pi_theta, exactly (the tests enumerate outcomes):

    estimator (per token)                         E[its gradient]               --kl-estimator
    k1 = log(pi_theta / pi_ref)                   0                              (k1_reward: in the reward)
    k2 = 1/2 log(pi_theta / pi_ref)^2             grad KL(pi_theta || pi_ref)    k2
    k3                                            grad KL(pi_ref || pi_theta)    k3 (the paper)
    rho k3, rho = pi_theta / pi_old not detached  grad KL(pi_theta || pi_ref)    k3_ratio (TRL's default)

So the paper's k3 estimates the reverse KL but pulls like the forward one, KL(pi_ref || pi_theta):
a mass-covering pull that grows steeply where pi_theta drops a token pi_ref likes. TRL's GRPOTrainer
multiplies k3 by the importance ratio by default (``use_bias_correction_kl=True``, after DeepSeek-V3.2),
which turns its gradient into the reverse KL's. k1's gradient is zero in expectation, so it is only
useful as a reward penalty, r_i - beta sum_t k1 (``k1_penalized_rewards``), as RLHF's PPO does per token.

Deviations from the paper: none for the default. (The tokens come from pi_old, not pi_theta; with
mu = 1 the two coincide at the point where the gradient is taken.)
"""

from __future__ import annotations

import torch

from .. import checks


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate, same shape as the inputs ([B, G, T])."""
    checks.inputs(locals(), logp="float [..., T]", ref_logp="float [..., T]")
    log_ratio = ref_logp - logp
    return torch.exp(log_ratio) - log_ratio - 1


def kl_k2(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k2 = 1/2 (log pi_theta - log pi_ref)^2: biased as a value, its gradient is the reverse KL's."""
    checks.inputs(locals(), logp="float [..., T]", ref_logp="float [..., T]")
    return 0.5 * (logp - ref_logp) ** 2


def kl_k3_ratio(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token rho k3 with rho = exp(logp - old_logp), not detached: TRL's ``use_bias_correction_kl``."""
    checks.inputs(locals(), logp="float [..., T]", old_logp="float [..., T]", ref_logp="float [..., T]")
    return torch.exp(logp - old_logp) * kl_k3(logp, ref_logp)


def k1_penalized_rewards(rewards: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor,
                         kl_coef: float) -> torch.Tensor:
    """r_i - beta sum_t log(pi_old / pi_ref) over the real tokens of o_i: rewards [B, G] -> [B, G].

    The KL as a reward penalty (k1, measured at sampling time, so no gradient flows through it); step 3
    then normalizes these penalized rewards in the group, and the loss has no KL term.
    """
    checks.inputs(locals(), rewards="float [B, G]", old_logp="float [B, G, T]", ref_logp="float [B, G, T]",
                  mask="bool [B, G, T]", kl_coef=">= 0")
    return rewards - kl_coef * torch.where(mask, old_logp - ref_logp, 0.0).sum(-1)
