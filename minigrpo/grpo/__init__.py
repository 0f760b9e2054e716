"""GRPO in numbered steps; ``trainer.train_grpo`` composes them."""

from .multi_reward import combined_advantages, gdpo_advantages
from .objective import aggregate_tokens, grpo_objective, masked_completion_mean
from .step1_sampling import Group, group_logprobs, sample_group
from .step2_reward import score_outcomes, score_steps
from .step3_group_norm import broadcast_to_tokens, group_advantages
from .step4_ratio_clip import (
    clip_fraction,
    clipped_surrogate,
    gspo_surrogate,
    probability_ratio,
    sequence_ratio,
)
from .step5_kl import kl_k3
from .step6_process_advantages import normalize_step_rewards, process_advantages

__all__ = [
    "Group",
    "sample_group",
    "group_logprobs",
    "score_outcomes",
    "score_steps",
    "group_advantages",
    "broadcast_to_tokens",
    "probability_ratio",
    "clipped_surrogate",
    "clip_fraction",
    "sequence_ratio",
    "gspo_surrogate",
    "kl_k3",
    "normalize_step_rewards",
    "process_advantages",
    "grpo_objective",
    "masked_completion_mean",
    "aggregate_tokens",
    "combined_advantages",
    "gdpo_advantages",
]
