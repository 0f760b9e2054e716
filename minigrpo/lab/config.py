"""The lab's configs: the paper's (``minigrpo/config.py``) plus every switch the lab adds, and the configs of the
lab's own commands (reward models, the bench). A switch at its default changes nothing: the lab's loop then runs the
paper's loop bit for bit (tests/test_lab_loop.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar

from ..config import DEVICES, GRPOConfig, PPOConfig, check, check_floats, check_positive, default_of, option

# The choices of LabGRPOConfig's switches; tests check they match the functions that take them.
BASELINES = ("mean", "leave_one_out")
ADV_SCALES = ("group", "batch", "none")
AGGREGATIONS = ("grpo", "dapo", "dr_grpo")
RATIO_LEVELS = ("token", "sequence")
MULTI_REWARD_NORMS = ("sum", "gdpo")
REWARD_COMPONENTS = ("correct", "format", "length")  # rewards.COMPONENTS
PROCESS_SCALES = ("sum", "mean")
KL_ESTIMATORS = ("k3", "k2", "k3_ratio", "k1_reward")
# The switches only one kind of supervision reads: outcome, process (step rewards), monte_carlo (VinePPO).
SUPERVISION_OPTIONS = {
    "outcome": ("baseline", "adv_scale", "reward_weights", "multi_reward_norm", "ratio_level", "random_reward"),
    "process": ("process_scale", "step_label_noise"),
    "monte_carlo": ("mc_samples",),
}


@dataclass(frozen=True)
class LabGRPOConfig(GRPOConfig):
    """GRPO with the lab's switches. The defaults are DeepSeekMath's GRPO; each switch below changes one thing
    (docs/variants.md)."""

    supervisions: ClassVar[tuple[str, ...]] = ("outcome", "process", "monte_carlo")
    process_scale: str = option("sum", "process: A_{i,t} is the 'sum' of later normalized step rewards, or their "
                                       "'mean' over the completion's steps (outcome-sized)")
    step_label_noise: float = option(0.0, "process: each step reward is flipped (1 <-> 0) with this chance", "[0, 1)")
    mc_samples: int = option(4, "monte_carlo: K continuations sampled from every state between steps")
    baseline: str = option("mean", "variant: subtract the group 'mean', or 'leave_one_out' (RLOO)")
    adv_scale: str = option("group", "variant: divide by the 'group' std, the 'batch' std, or 'none' (Dr. GRPO)")
    aggregation: str = option("grpo", "variant: average tokens per completion ('grpo', Eq. 3), 'dapo' or 'dr_grpo'")
    clip_eps_high: float = option(0.0, "variant: clip-higher (DAPO), upper clip 1 + this; 0 keeps clip_eps", "[0, 1)")
    ratio_level: str = option("token", "variant: one ratio per 'token', or per completion ('sequence', GSPO)")
    reward_weights: dict[str, float] = option({"correct": 1.0}, "variant: weighted reward components, "
                                                                "e.g. correct=1,format=0.5,length=0.5")
    multi_reward_norm: str = option("sum", "variant: normalize the weighted 'sum', or each component ('gdpo')")
    kl_estimator: str = option("k3", "variant: KL in the loss, 'k3' (Eq. 4), 'k2', 'k3_ratio' (TRL's default), or "
                                     "'k1_reward' (k1 in the reward, none in the loss)")
    reward_model: str = option("", "a learned reward model's checkpoint scores instead of the verifier: an outcome "
                                   "model for supervision 'outcome', a process one for 'process'")
    random_reward: float = option(0.0, "control: r_i ~ Bernoulli(this), whatever the completion says (Spurious "
                                       "Rewards); 0: off", "[0, 1)")

    fast: bool = option(False, "sample and score with minigrpo/lab/scale/fast.py: the same numbers (to float "
                               "rounding), each prompt once per group, finished completions dropped, length buckets")

    def __post_init__(self):
        super().__post_init__()
        check(isinstance(self.fast, bool), f"fast must be True or False, got {self.fast!r}")
        check(self.mc_samples >= 2, f"mc_samples must be at least 2 (a standard error needs 2), got {self.mc_samples}")
        for name, choices in [("baseline", BASELINES), ("adv_scale", ADV_SCALES), ("aggregation", AGGREGATIONS),
                              ("ratio_level", RATIO_LEVELS), ("multi_reward_norm", MULTI_REWARD_NORMS),
                              ("process_scale", PROCESS_SCALES),
                              ("kl_estimator", KL_ESTIMATORS)]:
            value = getattr(self, name)
            check(value in choices, f"{name} must be one of {choices}, got {value!r}")
        check(
            isinstance(self.reward_weights, dict) and len(self.reward_weights) > 0
            and all(name in REWARD_COMPONENTS for name in self.reward_weights)
            and all(isinstance(w, (int, float)) and math.isfinite(w) and w > 0 for w in self.reward_weights.values()),
            f"reward_weights must map names from {REWARD_COMPONENTS} to positive weights, got {self.reward_weights!r}",
        )
        check(self.kl_estimator != "k1_reward" or (self.supervision, self.multi_reward_norm) == ("outcome", "sum"),
               "kl_estimator='k1_reward' penalizes the outcome reward: it needs supervision='outcome' and "
               "multi_reward_norm='sum'")
        if self.multi_reward_norm == "gdpo":
            check((self.baseline, self.adv_scale) == ("mean", "group"),
                   "multi_reward_norm='gdpo' sets its own normalization (each component by its group, the sum by the "
                   f"batch): leave baseline='mean' and adv_scale='group', got {self.baseline!r}, {self.adv_scale!r}")
        check(not self.reward_model or (self.supervision != "monte_carlo" and not self.step_label_noise),
               "reward_model scores outcomes or steps: it needs supervision 'outcome' or 'process' without "
               "step_label_noise")
        check(not (self.reward_model and self.random_reward), "random_reward replaces the reward: no reward_model")
        defaults = {f.name: default_of(f) for f in fields(self)}
        for supervision, own in SUPERVISION_OPTIONS.items():
            changed = [name for name in own if getattr(self, name) != defaults[name]]
            check(self.supervision == supervision or not changed,
                   f"{', '.join(changed)} apply to supervision={supervision!r} only, got "
                   f"supervision={self.supervision!r}: leave them at their defaults")


VALUE_TARGETS = ("gae", "monte_carlo")
CRITIC_INITS = ("policy", "fresh")
CRITIC_STATES = ("tokens", "steps")


@dataclass(frozen=True)
class LabPPOConfig(PPOConfig):
    """PPO with the lab's switches: the fast path, and what the critic learns from (VC-PPO, Yuan et al. 2025)."""

    value_target: str = option("gae", "the critic regresses on the 'gae' returns (GAE(lambda) + V, the textbook), or "
                                      "on the 'monte_carlo' returns (lambda = 1: the reward-to-go; VC-PPO's "
                                      "decoupled GAE, the policy's advantages keep lambda)")
    value_epochs: int = option(1, "critic updates per inner step, each on the whole batch")
    critic_init: str = option("policy", "the critic's body starts as a copy of the 'policy', 'fresh' (random), or a "
                                        "copy of the GPT in this checkpoint file (another size or training; the "
                                        "same tokenizer, a block at least the policy's)")
    critic_pretrain_steps: int = option(0, "critic updates on the start policy's own completions, with "
                                           "Monte Carlo returns, before the first RL step (VC-PPO's value pretraining)")
    critic_states: str = option("tokens", "where the critic gives values: before every 'tokens' (the textbook), or "
                                          "only at the states between 'steps' (GAE over steps, every token of a "
                                          "step gets its step's advantage)")
    fast: bool = option(False, "sample and score with minigrpo/lab/scale/fast.py: the same numbers (to float "
                               "rounding), each prompt once per group, finished completions dropped, length buckets")

    def __post_init__(self):
        super().__post_init__()
        check(isinstance(self.fast, bool), f"fast must be True or False, got {self.fast!r}")
        check(self.critic_states in CRITIC_STATES, f"critic_states must be one of {CRITIC_STATES}, got "
                                                  f"{self.critic_states!r}")
        check(self.value_target in VALUE_TARGETS, f"value_target must be one of {VALUE_TARGETS}, got "
                                                  f"{self.value_target!r}")
        check(isinstance(self.critic_init, str) and bool(self.critic_init),
              f"critic_init must be one of {CRITIC_INITS} or a checkpoint file, got {self.critic_init!r}")
        check(isinstance(self.value_epochs, int) and self.value_epochs >= 1,
              f"value_epochs must be an integer >= 1, got {self.value_epochs!r}")
        check(isinstance(self.critic_pretrain_steps, int) and self.critic_pretrain_steps >= 0,
              f"critic_pretrain_steps must be an integer >= 0, got {self.critic_pretrain_steps!r}")


@dataclass(frozen=True)
class RewardModelConfig:
    """A learned reward model: warm-start completions labeled automatically, then a classifier trained on them."""

    kind: str = option("outcome", "'outcome': one score per completion (ORM), 'process': one per step (PRM)")
    label: str = option("hard", "process: a step is 1 if 'hard' any, or 'soft' the fraction, of its continuations "
                                "reach the right answer")
    mc_samples: int = option(4, "process: K continuations sampled after every step to label it")
    prompts: int = option(2048, "training prompts, each sampled samples_per_prompt times from the warm start")
    samples_per_prompt: int = option(4, "completions per prompt")
    heldout_prompts: int = option(200, "held-out (test split) prompts whose completions measure the model")
    steps: int = option(600, "optimizer steps")
    batch_size: int = option(64, "completions per step")
    lr: float = option(1e-4, "AdamW learning rate", "(0, 1]")
    temperature: float = option(1.0, "sampling temperature of the completions and continuations", "[0.001, 1000]")
    max_new_tokens: int = option(32, "most tokens a completion may have, <eos> included")
    eval_every: int = option(100, "steps between held-out evaluations")
    seed: int = option(0, "seed of the prompts drawn, the sampling and the batches")
    device: str = option("auto", "'cpu', 'cuda', or 'auto' (cuda when a GPU is visible)")

    def __post_init__(self):
        check_floats(self)
        check_positive(self, "prompts", "samples_per_prompt", "heldout_prompts", "steps", "batch_size",
                        "max_new_tokens", "eval_every")
        check(self.kind in ("outcome", "process"), f"kind must be 'outcome' or 'process', got {self.kind!r}")
        check(self.label in ("hard", "soft"), f"label must be 'hard' or 'soft', got {self.label!r}")
        check(self.kind == "process" or (self.label, self.mc_samples) == ("hard", 4),
               "label and mc_samples label steps: they apply to kind='process' only")
        check(self.mc_samples >= 2, f"mc_samples must be at least 2, got {self.mc_samples}")
        check(self.device in DEVICES, f"device must be one of {DEVICES}, got {self.device!r}")


@dataclass(frozen=True)
class BenchConfig:
    """What the bench measures and how often; the defaults take a few minutes on a 2-core CPU."""

    prompts_per_step: int = option(GRPOConfig.prompts_per_step, "B of the batch every part uses")
    group_size: int = option(GRPOConfig.group_size, "G of the batch every part uses")
    large_group_size: int = option(16, "a second G for the generation throughput")
    steps: int = option(6, "training steps per GRPO or PPO process (the first is not timed)")
    repeats: int = option(3, "alternating GRPO and PPO processes of each kind")
    timing_repeats: int = option(3, "timings whose median is reported: cached generation, forward/backward, matmul")
    matmul_size: int = option(1024, "n of the n x n float32 matrix multiply that sets the reference rate")
    device: str = option("cpu", "'cpu', 'cuda', or 'auto' (cuda when a GPU is visible)")

    def __post_init__(self):
        check_positive(self, "prompts_per_step", "large_group_size", "repeats", "timing_repeats", "matmul_size")
        check(self.group_size >= 2 and self.steps >= 2,
               f"group_size and steps must be at least 2, got {self.group_size} and {self.steps}")
        check(self.device in DEVICES, f"device must be one of {DEVICES}, got {self.device!r}")


# A smoke test in seconds: every part runs, no number means anything.
QUICK = BenchConfig(prompts_per_step=2, group_size=2, large_group_size=4, steps=2, repeats=1, timing_repeats=1,
                    matmul_size=64)
