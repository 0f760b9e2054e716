"""What libraries changed in GRPO since DeepSeekMath, each a config switch that replaces one step's value.

The lab's loop (``lab/loop.py``) resolves the switches once, before its first step, into the function each step
calls: the paper's step, or one of these. This module imports the steps and no step imports it.
N = B * G completions, rho = exp(logp - old_logp).

Advantages (replace step 3)                                      switch
    A_i = (r_i - b_i) / s
    b_i = 1/(G-1) sum_{j != i} r_j    RLOO, leave one out          --baseline leave_one_out
    s   = std of all N rewards + eps  batch std (TRL's "batch")    --adv-scale batch
    s   = 1                           Dr. GRPO, no std             --adv-scale none
    r_i = sum_k w_k r_{i,k}           several rewards, summed      --reward-weights correct=1,format=0.5
    GDPO: normalize each r_k in its group, sum, divide by the batch std   --multi-reward-norm gdpo
The ratio and the clip (replace step 4)
    s_i = exp(1/|o_i| sum_t (logp - old_logp)) on every token of o_i     GSPO   --ratio-level sequence
    min(rho A, clip(rho, 1 - eps_low, 1 + eps_high) A)            clip-higher (DAPO)  --clip-eps-high 0.28
How tokens are averaged (replace step 6), x_{i,t} = surrogate - beta KL
    sum_i sum_t x_{i,t} / sum_i |o_i|        DAPO: every token weighs the same        --aggregation dapo
    sum_i sum_t x_{i,t} / (N L_max)          Dr. GRPO: a constant, L_max = max_new_tokens  --aggregation dr_grpo
The KL in the loss (replace step 5's term in step 6)
    k2 = 1/2 log(pi_theta / pi_ref)^2                             --kl-estimator k2
    rho k3, rho = pi_theta / pi_old not detached (TRL's default)  --kl-estimator k3_ratio
    r_i - beta sum_t log(pi_old / pi_ref) in step 3, no KL in the loss   --kl-estimator k1_reward
A control (replaces step 2's reward)
    r_i ~ Bernoulli(p), whatever o_i says    random reward (Spurious Rewards)          --random-reward p

Sources: RLOO (Kool et al. 2019; Ahmadian et al. 2024, arXiv:2402.14740), batch std (Liu et al.
2025, "Tricks or Traps?", arXiv:2508.08221), Dr. GRPO (Liu et al. 2025, arXiv:2503.20783, Sec. 3.2),
DAPO (Yu et al. 2025, arXiv:2503.14476, Eqs. 8 and 10), GSPO (Zheng et al. 2025, arXiv:2507.18071,
Eqs. 5 and 7), GDPO (Liu et al. 2026, arXiv:2601.05242, Eqs. 4, 6, 7), random rewards (Shao et al.
2025, "Spurious Rewards", arXiv:2506.10947, Sec. 2). Each keeps step 3's
conventions (sample std, eps added, a group with no spread gets exactly 0).
"""

from __future__ import annotations

import torch

from ... import checks
from ...grpo.step1_sampling import Group
from ...grpo.step2_reward import score_outcomes
from ...grpo.step3_group_norm import check_rewards, group_advantages, has_spread
from ...grpo.step4_ratio_clip import check_surrogate_inputs
from ...grpo.step5_kl import k1_penalized_rewards, kl_k2, kl_k3, kl_k3_ratio
from ...grpo.step6_objective import check_objective_inputs
from ...masked import aggregate, completion_mean
from ...rewards import COMPONENTS
from ..config import LabGRPOConfig


def advantages(group: Group, rewards: torch.Tensor, cfg: LabGRPOConfig, ref_logp: torch.Tensor | None = None,
               batch_std=torch.std):
    """Step 3 under the switches: rewards [B, G] (the "correct" component) -> advantages [B, G].

    With ``kl_estimator="k1_reward"`` the weighted reward is penalized by beta sum_t k1 (``ref_logp`` [B, G, T]
    needed) before it is normalized, as RLHF's PPO folds the KL into its reward. ``batch_std(x)``: the std of the
    whole batch's values, for the batch scale and GDPO (under torchrun, over every process: ``World.std``).
    """
    components = torch.stack(  # r_{i,k}: [B, G, K]
        [rewards if name == "correct" else score_outcomes(COMPONENTS[name], group) for name in cfg.reward_weights], -1
    )
    weights = torch.tensor(list(cfg.reward_weights.values()), dtype=components.dtype, device=components.device)
    if cfg.multi_reward_norm == "gdpo":
        return gdpo_advantages(components, weights, cfg.adv_eps, batch_std)
    summed = (components * weights).sum(-1)
    if cfg.kl_estimator == "k1_reward":
        if ref_logp is None:
            raise ValueError("kl_estimator='k1_reward' needs ref_logp")
        summed = k1_penalized_rewards(summed, group.old_logp, ref_logp, group.mask, cfg.kl_coef)
    return rescaled_advantages(summed, cfg.adv_eps, cfg.baseline, cfg.adv_scale, batch_std)


def rescaled_advantages(rewards: torch.Tensor, eps: float, baseline: str, scale: str,
                        batch_std=torch.std) -> torch.Tensor:
    """(r_i - b_i) / s with b_i the group "mean" or "leave_one_out", s the "group" or "batch" std + eps, or "none".

    ``batch_std(rewards)`` is the "batch" std: of these rewards in one process, of every process's under torchrun.
    """
    check_rewards(rewards)
    checks.number("eps", eps, low=0)
    G = rewards.shape[1]
    if baseline == "mean":
        adv = rewards - rewards.mean(dim=1, keepdim=True)
    elif baseline == "leave_one_out":  # = G/(G-1) (r_i - mean(r)): the mean baseline, scaled
        adv = rewards - (rewards.sum(dim=1, keepdim=True) - rewards) / (G - 1)
    else:
        raise ValueError(f"baseline must be 'mean' or 'leave_one_out', got {baseline!r}")
    if scale == "group":
        adv = adv / (rewards.std(dim=1, keepdim=True) + eps)
    elif scale == "batch":
        adv = adv / (batch_std(rewards) + eps)
    elif scale != "none":
        raise ValueError(f"scale must be 'group', 'batch' or 'none', got {scale!r}")
    return torch.where(has_spread(rewards), adv, 0.0)


def gdpo_advantages(components: torch.Tensor, weights: torch.Tensor, eps: float = 1e-4,
                    batch_std=torch.std) -> torch.Tensor:
    """GDPO: A_{i,k} = group-normalized r_{i,k}; S_i = sum_k w_k A_{i,k}; A_i = S_i / (std of all S + eps).

    components [B, G, K], weights [K] -> [B, G]. Summing first would give the groups (0, 1), (0, 2)
    and (1, 2) of two 0/1 rewards the same advantages; normalizing each component first keeps
    (0, 2) twice (0, 1). The batch mean of the paper's Eq. 6 is not subtracted: each group's
    S_i sum to zero, so it is zero up to rounding, and a group with no signal stays exactly 0.
    ``batch_std(S)``: the std of all S, over every process under torchrun (``World.std``).
    """
    checks.tensor("components", components, "[B, G, K]", "float")
    checks.tensor("weights", weights, "[K]", "float")
    if components.dim() != 3 or weights.shape != components.shape[-1:]:
        raise ValueError(f"components must be [B, G, K] and weights [K], got {tuple(components.shape)} "
                         f"and {tuple(weights.shape)}")
    checks.finite("weights", weights)
    per_component = torch.stack([group_advantages(components[..., k], eps) for k in range(len(weights))], -1)
    summed = (per_component * weights).sum(-1)
    return torch.where(summed == 0, 0.0, summed / (batch_std(summed) + eps))  # no spread anywhere: 0, not 0/0


def sequence_ratio(logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """GSPO's s_i = exp(1/|o_i| sum_t (logp - old_logp)) on every real token of o_i, 0 on padding: all [B, G, T].

    A geometric mean of the token ratios, so it stays much closer to 1 than they do: the paper
    clips it at 1 - 3e-4 and 1 + 4e-4. Clipped, the whole completion stops contributing.
    """
    checks.tensor("logp", logp, "[B, G, T]", "float")
    checks.tensor("old_logp", old_logp, "[B, G, T]", "float")
    checks.tensor("mask", mask, "[B, G, T]", "bool")
    checks.same_shape(logp=logp, old_logp=old_logp, mask=mask)
    checks.finite("logp", logp, mask)
    checks.finite("old_logp", old_logp, mask)
    mean_log_ratio = completion_mean(logp - old_logp, mask)[..., None]  # [B, G, 1]
    return torch.where(mask, torch.exp(mean_log_ratio), 0.0)


def clip_higher_surrogate(ratio: torch.Tensor, adv: torch.Tensor, clip_eps: float, clip_eps_high: float):
    """DAPO's clip-higher: min(rho A, clip(rho, 1 - eps_low, 1 + eps_high) A), all [B, G, T].

    A separate upper bound lets unlikely tokens with A > 0 grow further before the clip stops them.
    """
    check_surrogate_inputs(ratio, adv, clip_eps=clip_eps, clip_eps_high=clip_eps_high)
    return torch.minimum(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps_high) * adv)


def kl_in_loss(logp, old_logp, ref_logp, estimator: str) -> torch.Tensor:
    """The per-token KL term the loss subtracts (times beta): k3, k2, rho k3, or 0 when k1 is in the reward."""
    if estimator == "k3":
        return kl_k3(logp, ref_logp)
    if estimator == "k2":
        return kl_k2(logp, ref_logp)
    if estimator == "k3_ratio":
        return kl_k3_ratio(logp, old_logp, ref_logp)
    if estimator == "k1_reward":
        return torch.zeros_like(logp)
    raise ValueError(f"kl_estimator must be 'k3', 'k2', 'k3_ratio' or 'k1_reward', got {estimator!r}")


def objective(surrogate, logp, old_logp, ref_logp, mask, cfg: LabGRPOConfig, counts=None,
              world_size: int = 1) -> torch.Tensor:
    """Step 6 under the switches: J = the ``aggregation`` average (``masked.aggregate``) of surrogate - beta KL,
    with the KL term of ``kl_estimator``; ``counts`` and ``world_size``: the whole batch's under torchrun."""
    check_objective_inputs(surrogate, logp, mask, cfg.kl_coef)
    per_token = surrogate - cfg.kl_coef * kl_in_loss(logp, old_logp, ref_logp, cfg.kl_estimator)
    return aggregate(per_token, mask, cfg.aggregation, cfg.max_new_tokens, counts, world_size)


def random_rewards(rewards: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """The control: a reward of 1 with probability p, 0 otherwise, drawn for each completion independently of
    it: rewards [B, G] (only its shape, dtype and device are used) -> [B, G]. What a run learns from these, it
    did not learn from the task."""
    check_rewards(rewards)
    checks.number("p", p, low=0, high=1)
    return torch.bernoulli(torch.full_like(rewards, p), generator=generator)


def reward_component_means(group: Group, cfg: LabGRPOConfig) -> dict[str, float]:
    """For the log: the mean of each reward component other than "correct" (that one is reward_mean)."""
    return {f"reward_{name}": score_outcomes(COMPONENTS[name], group).mean().item()
            for name in cfg.reward_weights if name != "correct"}
