"""GRPO (DeepSeekMath, Shao et al. 2024, Sec. 4.1), one file per step of the loop. Read in this order:

    step1_sampling.py            o_1..o_G ~ pi_old(. | q): a group of completions per prompt, with their log-probs
    step2_reward.py              r_i per completion (outcome), or one reward per reasoning step (process)
    step3_group_norm.py          A_i = (r_i - mean(r)) / (std(r) + eps), the group as baseline (outcome)
    step3_process_advantages.py  ... or, under process supervision: A_{i,t} = sum of normalized step rewards
    step4_ratio_clip.py          ratio = pi_theta / pi_old; min(ratio A, clip(ratio, 1 - eps, 1 + eps) A)
    step5_kl.py                  k3 = pi_ref / pi_theta - log(pi_ref / pi_theta) - 1 (and k2, rho k3, k1 in the reward)
    step6_objective.py           J = 1/G sum_i 1/|o_i| sum_t [surrogate - beta k3]   (Eq. 3)
    trainer.py                   Algorithm 1: the steps above in a loop, with its outer loop (pi_ref reset)

What came after the paper (RLOO, DAPO, Dr. GRPO, GSPO, GDPO, VinePPO, learned reward models, the fast path,
torchrun) is in ``minigrpo/lab``, whose loop calls these same steps.

The loop (``trainer.train_grpo``), in pseudocode:

    for step = 1 .. steps:
        every M = ref_reset_every steps (never when 0): pi_ref <- pi_theta   # Algorithm 1's outer loop
        pi_old <- pi_theta; q_1..q_B ~ train split
        o_{b,1..G} ~ pi_old(. | q_b)                                    # 1  sample_group
        r_{b,i} = reward(q_b, o_{b,i})                                  # 2  score_outcomes
        A_{b,i,t} = (r_{b,i} - mean_i r_b) / (std_i r_b + eps)           # 3  group_advantages
        repeat mu times:
            ratio = exp(logp - old_logp)                                # 4  probability_ratio
            surrogate = min(ratio A, clip(ratio, 1 - eps, 1 + eps) A)   # 4  clipped_surrogate
            kl = exp(ref_logp - logp) - (ref_logp - logp) - 1           # 5  kl_k3
            J = mean_b mean_i 1/|o_i| sum_t (surrogate - beta kl)       # 6  grpo_objective
            one gradient step on -J
"""

from .step1_sampling import Group, group_logprobs, sample_group
from .step2_reward import score_outcomes, score_steps
from .step3_group_norm import broadcast_to_tokens, group_advantages
from .step3_process_advantages import normalize_step_rewards, process_advantages
from .step4_ratio_clip import clipped_surrogate, probability_ratio
from .step5_kl import k1_penalized_rewards, kl_k2, kl_k3, kl_k3_ratio
from .step6_objective import grpo_objective

__all__ = [
    "Group",
    "sample_group",
    "group_logprobs",
    "score_outcomes",
    "score_steps",
    "group_advantages",
    "broadcast_to_tokens",
    "normalize_step_rewards",
    "process_advantages",
    "probability_ratio",
    "clipped_surrogate",
    "kl_k3",
    "kl_k2",
    "kl_k3_ratio",
    "k1_penalized_rewards",
    "grpo_objective",
]
