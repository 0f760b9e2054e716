"""Configuration as data: one dataclass per component, validated on construction. Defaults run on a 2-core
CPU in minutes. Every field is a flag (``group_size`` -> ``--group-size``) whose ``--help`` is its ``help`` below;
symbols follow the glossary in ``minigrpo/__init__.py``."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from .options import check, check_floats, check_positive, default_of, option

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TaskConfig:
    """The arithmetic task: ``num_operands`` numbers joined by ``operators``, reduced left to right."""

    num_operands: int = option(4, "numbers per problem, so num_operands - 1 steps")
    digits: int = option(1, "most digits of each number")
    operators: str = option("+-", "operators to draw from, a subset of '+-*'")
    n_train: int = option(20000, "training problems")
    n_test: int = option(500, "held-out problems, disjoint from the training ones")
    seed: int = option(0, "seed of the random problems")

    def __post_init__(self):
        check(2 <= self.num_operands <= 6, f"num_operands must be in [2, 6], got {self.num_operands}")
        check(1 <= self.digits <= 4, f"digits must be in [1, 4], got {self.digits}")
        check(len(self.operators) > 0 and set(self.operators) <= set("+-*"),
               f"operators must be a non-empty subset of '+-*', got {self.operators!r}")
        check(self.n_train > 0 and self.n_test > 0, "n_train and n_test must be positive")


@dataclass(frozen=True)
class ModelConfig:
    """A small GPT. ``vocab_size`` must match the tokenizer (see tokenizer.VOCAB_SIZE)."""

    vocab_size: int = option(20, "tokens in the vocabulary (the tokenizer's 17 characters and 3 specials)")
    block_size: int = option(64, "longest sequence, prompt plus completion, in tokens")
    n_layer: int = option(3, "transformer blocks")
    n_head: int = option(4, "attention heads per block")
    n_embd: int = option(128, "width d of the residual stream")

    def __post_init__(self):
        check_positive(self, "vocab_size", "block_size", "n_layer")
        check(self.n_head > 0 and self.n_embd % self.n_head == 0,
               f"n_embd ({self.n_embd}) must be a positive multiple of n_head ({self.n_head})")


@dataclass(frozen=True)
class WarmupConfig:
    """Supervised warm start: next-token loss on worked solutions."""

    steps: int = option(300, "optimizer steps; stopped early on purpose so that GRPO has room to improve")
    batch_size: int = option(64, "problems per step")
    lr: float = option(2e-3, "AdamW learning rate, after a linear warm-up over 50 steps", "(0, 1]")
    weight_decay: float = option(0.01, "AdamW weight decay", "[0, 1]")
    eval_every: int = option(100, "steps between held-out evaluations")
    seed: int = option(0, "seed of the initial weights and of the order of the problems")
    device: str = option("auto", "'cpu', 'cuda', or 'auto' (cuda when a GPU is visible)")

    def __post_init__(self):
        check_floats(self)
        check_positive(self, "steps", "batch_size", "eval_every")
        check(self.device in DEVICES, f"device must be one of {DEVICES}, got {self.device!r}")


@dataclass(frozen=True)
class RLConfig:
    """What GRPO and PPO share: the batch, the clipped update, the KL to pi_ref, sampling, evaluation."""

    steps: int = option(600, "training steps; each samples a new batch")
    prompts_per_step: int = option(32, "B: prompts sampled per step")
    group_size: int = option(8, "G: completions sampled per prompt (PPO samples the same B * G batch)")
    num_inner_steps: int = option(1, "mu: gradient steps on each sampled batch")
    lr: float = option(3e-4, "AdamW learning rate of the policy", "(0, 1]")
    clip_eps: float = option(0.2, "epsilon: the ratio is clipped to [1 - epsilon, 1 + epsilon]", "(0, 1)")
    kl_coef: float = option(0.04, "beta: weight of the KL to pi_ref (GRPO: in the loss, PPO: the reward)", "[0, 100]")
    temperature: float = option(1.0, "sampling temperature, also of every log-prob of the update", "[0.001, 1000]")
    max_new_tokens: int = option(32, "most tokens a completion may have, <eos> included")
    grad_clip: float = option(1.0, "the policy's gradient norm is clipped to this before each step", "(0, inf)")
    eval_every: int = option(50, "steps between held-out greedy evaluations")
    seed: int = option(0, "seed of the prompts drawn and of the sampling")
    device: str = option("auto", "'cpu', 'cuda', or 'auto' (cuda when a GPU is visible)")
    fast: bool = option(False, "sample and score with minigrpo/fast.py: the same numbers (to float rounding), each "
                               "prompt once per group, finished completions dropped, length buckets")

    def __post_init__(self):
        check_floats(self)
        check_positive(self, "steps", "prompts_per_step", "group_size", "num_inner_steps", "max_new_tokens",
                        "eval_every")
        check(self.device in DEVICES, f"device must be one of {DEVICES}, got {self.device!r}")
        check(isinstance(self.fast, bool), f"fast must be True or False, got {self.fast!r}")


# The choices of GRPOConfig's variant switches; tests check they match the functions that take them.
BASELINES = ("mean", "leave_one_out")
ADV_SCALES = ("group", "batch", "none")
AGGREGATIONS = ("grpo", "dapo", "dr_grpo")
RATIO_LEVELS = ("token", "sequence")
MULTI_REWARD_NORMS = ("sum", "gdpo")
REWARD_COMPONENTS = ("correct", "format", "length")  # rewards.COMPONENTS
SUPERVISIONS = ("outcome", "process", "monte_carlo")
PROCESS_SCALES = ("sum", "mean")
KL_ESTIMATORS = ("k3", "k2", "k3_ratio", "k1_reward")
# The switches only one kind of supervision reads: outcome, process (step rewards), monte_carlo (VinePPO).
SUPERVISION_OPTIONS = {
    "outcome": ("baseline", "adv_scale", "reward_weights", "multi_reward_norm", "ratio_level", "random_reward"),
    "process": ("process_scale", "step_label_noise"),
    "monte_carlo": ("mc_samples",),
}


@dataclass(frozen=True)
class GRPOConfig(RLConfig):
    """GRPO: the shared settings, how advantages come from the group, and the variant switches. The defaults are
    DeepSeekMath's GRPO; each switch below ``supervision`` changes one thing (README, "GRPO variants")."""

    adv_eps: float = option(1e-4, "eps added to the group's reward std before dividing by it", "(0, 1]")
    supervision: str = option("outcome", "'outcome': one reward per completion, 'process': one per step, "
                                         "'monte_carlo': VinePPO's sampled step values")
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
    ref_reset_every: int = option(0, "variant: iterative GRPO, pi_ref <- pi_theta every this many steps; 0: never")
    kl_estimator: str = option("k3", "variant: KL in the loss, 'k3' (Eq. 4), 'k2', 'k3_ratio' (TRL's default), or "
                                     "'k1_reward' (k1 in the reward, none in the loss)")
    reward_model: str = option("", "a learned reward model's checkpoint scores instead of the verifier: an outcome "
                                   "model for supervision 'outcome', a process one for 'process'")
    random_reward: float = option(0.0, "control: r_i ~ Bernoulli(this), whatever the completion says (Spurious "
                                       "Rewards); 0: off", "[0, 1)")

    def __post_init__(self):
        super().__post_init__()
        check(self.group_size >= 2, f"group_size must be at least 2 (one has no baseline), got {self.group_size}")
        check(self.mc_samples >= 2, f"mc_samples must be at least 2 (a standard error needs 2), got {self.mc_samples}")
        for name, choices in [("baseline", BASELINES), ("adv_scale", ADV_SCALES), ("aggregation", AGGREGATIONS),
                              ("ratio_level", RATIO_LEVELS), ("multi_reward_norm", MULTI_REWARD_NORMS),
                              ("supervision", SUPERVISIONS), ("process_scale", PROCESS_SCALES),
                              ("kl_estimator", KL_ESTIMATORS)]:
            value = getattr(self, name)
            check(value in choices, f"{name} must be one of {choices}, got {value!r}")
        check(
            isinstance(self.reward_weights, dict) and len(self.reward_weights) > 0
            and all(name in REWARD_COMPONENTS for name in self.reward_weights)
            and all(isinstance(w, (int, float)) and math.isfinite(w) and w > 0 for w in self.reward_weights.values()),
            f"reward_weights must map names from {REWARD_COMPONENTS} to positive weights, got {self.reward_weights!r}",
        )
        check(self.ref_reset_every >= 0, f"ref_reset_every must be >= 0 (0: never), got {self.ref_reset_every}")
        check(self.ref_reset_every == 0 or self.kl_coef > 0,
               "ref_reset_every needs kl_coef > 0: without the KL term there is no reference policy to reset")
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


@dataclass(frozen=True)
class PPOConfig(RLConfig):
    """PPO: the shared settings plus the critic and GAE (kl_coef weighs the KL folded into the reward)."""

    critic_lr: float = option(1e-3, "AdamW learning rate of the critic", "(0, 1]")
    value_clip_eps: float = option(0.2, "the critic's values move at most this far from the sampling ones", "(0, inf)")
    gamma: float = option(1.0, "discount of GAE", "[0, 1]")
    lam: float = option(0.95, "lambda of GAE: 0 is one-step TD, 1 is the Monte Carlo return", "[0, 1]")
    whiten_advantages: bool = option(True, "normalize the advantages over the batch's tokens")

    def __post_init__(self):
        super().__post_init__()
        check(isinstance(self.whiten_advantages, bool),
               f"whiten_advantages must be True or False, got {self.whiten_advantages!r}")


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
