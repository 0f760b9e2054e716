"""The plain policy gradient (REINFORCE, Williams 1992): the score-function gradient, with or without a baseline.

For a policy pi_theta that samples a completion o with reward R(o), the expected reward and its gradient are

    J(theta) = E_{o ~ pi_theta}[R(o)],      grad J(theta) = E_{o ~ pi_theta}[(R(o) - b) grad log pi_theta(o)]

for any baseline b that does not depend on o: sum_o pi grad log pi = sum_o grad pi = grad 1 = 0, so b adds nothing
to the expectation, and a b close to R(o) lowers the variance of the estimate. From G completions o_i of each of B
prompts, the objective below is a surrogate whose gradient is that estimate (its value means nothing):

    J_pg(theta) = 1/(BG) sum_{b,i} 1/|o_i| sum_t (r_i - b_i) logp_{i,t}        (r_i - b_i a constant: no gradient)

    b_i = 0                             "none"             plain REINFORCE
    b_i = 1/G sum_j r_j                 "mean"             GRPO's baseline (step 3 without its std); r_i is part of
                                                           its own baseline, which scales the expected gradient
                                                           by (G - 1)/G: the direction is kept
    b_i = 1/(G - 1) sum_{j != i} r_j    "leave_one_out"    independent of o_i, so unbiased (RLOO, Kool et al. 2019)

This is what PPO's and GRPO's clipped surrogate (step 4) reduce to at their first inner step: there ratio = 1 and
grad (ratio A) = A grad logp, the same gradient for A_i = r_i - b_i. They part once pi_theta has moved away from the
pi_old that sampled the completions (mu > 1): this objective has no ratio to correct for the move, and no clip to
stop it.

Deviations from the paper:
- each completion is averaged over its tokens (1/|o_i|, as in step 6) where Williams sums them
  (grad log pi(o) = sum_t grad logp_t), so that this objective differs from GRPO's only by the ratio and the
  clip; on one-token completions averaging and summing agree.
- with a baseline, a group whose rewards are all equal gets exactly 0, as in step 3.
"""

from __future__ import annotations

import torch

from . import checks
from .masked import aggregate

BASELINES = ("none", "mean", "leave_one_out")


def reinforce_advantages(rewards: torch.Tensor, baseline: str) -> torch.Tensor:
    """r_i - b_i, one per completion: rewards [B, G] -> [B, G], b_i as ``baseline`` says (see the table above)."""
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
    checks.inputs(locals(), rewards="float [B, G >= 2]" if baseline == "leave_one_out" else "float [B, G]")
    if baseline == "none":
        return rewards
    G = rewards.shape[1]
    total = rewards.sum(dim=1, keepdim=True)
    adv = rewards - ((total - rewards) / (G - 1) if baseline == "leave_one_out" else total / G)
    spread = rewards.amax(dim=1, keepdim=True) > rewards.amin(dim=1, keepdim=True)
    return torch.where(spread, adv, 0.0)  # exactly 0, whatever the rounding of the mean


def policy_gradient_objective(logp: torch.Tensor, rewards: torch.Tensor, mask: torch.Tensor,
                              baseline: str) -> torch.Tensor:
    """J_pg(theta), a scalar: logp [B, G, T] (pi_theta's log-probs of the sampled tokens), rewards [B, G], mask
    [B, G, T] (True on a prefix of each row: the completion, <eos> included). Training minimizes -J_pg."""
    checks.inputs(locals(), logp="float [B, G, T]", rewards="float [B, G]", mask="bool [B, G, T] prefix")
    adv = reinforce_advantages(rewards, baseline).detach()
    return aggregate(adv[..., None] * logp, mask, "grpo")
