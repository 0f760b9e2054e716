"""Configuration as data: one dataclass per component, validated on construction.

Defaults are chosen to run on a 2-core laptop CPU in minutes. Every field can be
overridden from the command line (``--group-size 16``); see ``__main__.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

DEVICES = ("auto", "cpu", "cuda")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class TaskConfig:
    """The arithmetic task: ``num_operands`` numbers of up to ``digits`` digits,
    joined by operators drawn from ``operators`` and reduced left to right."""

    num_operands: int = 4
    digits: int = 1
    operators: str = "+-"
    n_train: int = 20000
    n_test: int = 500
    seed: int = 0

    def __post_init__(self):
        _check(2 <= self.num_operands <= 6, f"num_operands must be in [2, 6], got {self.num_operands}")
        _check(1 <= self.digits <= 4, f"digits must be in [1, 4], got {self.digits}")
        _check(
            len(self.operators) > 0 and set(self.operators) <= set("+-*"),
            f"operators must be a non-empty subset of '+-*', got {self.operators!r}",
        )
        _check(self.n_train > 0 and self.n_test > 0, "n_train and n_test must be positive")


@dataclass(frozen=True)
class ModelConfig:
    """A small GPT. ``vocab_size`` must match the tokenizer (see tokenizer.VOCAB_SIZE)."""

    vocab_size: int = 20
    block_size: int = 64
    n_layer: int = 3
    n_head: int = 4
    n_embd: int = 128

    def __post_init__(self):
        _check(self.vocab_size > 0, f"vocab_size must be positive, got {self.vocab_size}")
        _check(self.block_size > 0, f"block_size must be positive, got {self.block_size}")
        _check(self.n_layer > 0, f"n_layer must be positive, got {self.n_layer}")
        _check(
            self.n_head > 0 and self.n_embd % self.n_head == 0,
            f"n_embd ({self.n_embd}) must be a positive multiple of n_head ({self.n_head})",
        )


@dataclass(frozen=True)
class WarmupConfig:
    """Supervised warm start: next-token loss on worked solutions."""

    steps: int = 300  # stopped early on purpose: ~40% held-out accuracy leaves GRPO room
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.01
    eval_every: int = 100
    seed: int = 0
    device: str = "auto"

    def __post_init__(self):
        _check(self.steps > 0, f"steps must be positive, got {self.steps}")
        _check(self.batch_size > 0, f"batch_size must be positive, got {self.batch_size}")
        _check(self.lr > 0, f"lr must be positive, got {self.lr}")
        _check(self.eval_every > 0, f"eval_every must be positive, got {self.eval_every}")
        _check(self.device in DEVICES, f"device must be one of {DEVICES}, got {self.device!r}")


@dataclass(frozen=True)
class RLConfig:
    """What GRPO and PPO share: the batch, the clipped update, the KL to pi_ref, sampling, evaluation.

    Names follow the glossary in minigrpo/__init__.py.
    """

    steps: int = 600
    prompts_per_step: int = 32  # B
    group_size: int = 8  # G completions per prompt (PPO samples the same B * G batch)
    num_inner_steps: int = 1  # mu
    lr: float = 3e-4
    clip_eps: float = 0.2  # epsilon
    kl_coef: float = 0.04  # beta
    temperature: float = 1.0
    max_new_tokens: int = 32
    grad_clip: float = 1.0
    eval_every: int = 50
    seed: int = 0
    device: str = "auto"

    def __post_init__(self):
        _check(self.steps > 0, f"steps must be positive, got {self.steps}")
        _check(self.prompts_per_step > 0, f"prompts_per_step must be positive, got {self.prompts_per_step}")
        _check(self.group_size >= 1, f"group_size must be positive, got {self.group_size}")
        _check(self.num_inner_steps >= 1, f"num_inner_steps must be >= 1, got {self.num_inner_steps}")
        _check(self.lr > 0, f"lr must be positive, got {self.lr}")
        _check(0 < self.clip_eps < 1, f"clip_eps must be in (0, 1), got {self.clip_eps}")
        _check(self.kl_coef >= 0, f"kl_coef must be >= 0, got {self.kl_coef}")
        _check(self.temperature > 0, f"temperature must be positive, got {self.temperature}")
        _check(self.max_new_tokens > 0, f"max_new_tokens must be positive, got {self.max_new_tokens}")
        _check(self.grad_clip > 0, f"grad_clip must be positive, got {self.grad_clip}")
        _check(self.eval_every > 0, f"eval_every must be positive, got {self.eval_every}")
        _check(self.device in DEVICES, f"device must be one of {DEVICES}, got {self.device!r}")


# The choices of GRPOConfig's variant switches; tests check they match the functions that take them.
BASELINES = ("mean", "leave_one_out")  # step3_group_norm.BASELINES
ADV_SCALES = ("group", "batch", "none")  # step3_group_norm.SCALES
AGGREGATIONS = ("grpo", "dapo", "dr_grpo")  # objective.AGGREGATIONS
RATIO_LEVELS = ("token", "sequence")  # step4_ratio_clip.RATIO_LEVELS
MULTI_REWARD_NORMS = ("sum", "gdpo")
REWARD_COMPONENTS = ("correct", "format", "length")  # rewards.COMPONENTS


def parse_reward_weights(text: str) -> dict[str, float]:
    """'correct=1,format=0.5' -> {'correct': 1.0, 'format': 0.5}: known names, each once, weights > 0."""
    weights = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        name = name.strip()
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        _check(
            name in REWARD_COMPONENTS and name not in weights and math.isfinite(weight) and weight > 0,
            f"reward_weights must be 'name=weight' pairs joined by commas, each name once, from "
            f"{REWARD_COMPONENTS}, each weight a positive number; got {text!r}",
        )
        weights[name] = weight
    return weights


@dataclass(frozen=True)
class GRPOConfig(RLConfig):
    """GRPO: the shared settings plus how advantages come from the group, and the variant switches.

    The defaults are DeepSeekMath's GRPO; each variant field changes one thing (README, "Variants").
    """

    adv_eps: float = 1e-4  # added to the group std before dividing
    supervision: str = "outcome"  # "outcome" (step 3) or "process" (step 6)
    baseline: str = "mean"  # "mean" of the group, or "leave_one_out" (RLOO)
    adv_scale: str = "group"  # divide by the "group" std, the "batch" std, or "none" (Dr. GRPO)
    aggregation: str = "grpo"  # token terms averaged as in Eq. 3 ("grpo"), or "dapo", or "dr_grpo"
    clip_eps_high: float = 0.0  # DAPO clip-higher: the upper clip is 1 + clip_eps_high; 0 means clip_eps
    ratio_level: str = "token"  # one ratio per "token", or per completion ("sequence": GSPO)
    reward_weights: str = "correct=1"  # weighted reward components, e.g. "correct=1,format=0.5,length=0.5"
    multi_reward_norm: str = "sum"  # normalize the weighted "sum" (GRPO), or each component first ("gdpo")
    ref_reset_every: int = 0  # iterative GRPO: pi_ref <- pi_theta every this many steps; 0: never

    def __post_init__(self):
        super().__post_init__()
        _check(
            self.group_size >= 2,
            f"group_size must be at least 2 (a group of one has no baseline), got {self.group_size}",
        )
        _check(self.adv_eps > 0, f"adv_eps must be positive, got {self.adv_eps}")
        _check(
            self.supervision in ("outcome", "process"),
            f"supervision must be 'outcome' or 'process', got {self.supervision!r}",
        )
        for name, choices in [("baseline", BASELINES), ("adv_scale", ADV_SCALES), ("aggregation", AGGREGATIONS),
                              ("ratio_level", RATIO_LEVELS), ("multi_reward_norm", MULTI_REWARD_NORMS)]:
            value = getattr(self, name)
            _check(value in choices, f"{name} must be one of {choices}, got {value!r}")
        _check(self.clip_eps_high >= 0, f"clip_eps_high must be >= 0 (0: same as clip_eps), got {self.clip_eps_high}")
        parse_reward_weights(self.reward_weights)
        _check(self.ref_reset_every >= 0, f"ref_reset_every must be >= 0 (0: never), got {self.ref_reset_every}")
        _check(
            self.ref_reset_every == 0 or self.kl_coef > 0,
            "ref_reset_every needs kl_coef > 0: without the KL term there is no reference policy to reset",
        )
        if self.multi_reward_norm == "gdpo":
            _check(
                (self.baseline, self.adv_scale) == ("mean", "group"),
                "multi_reward_norm='gdpo' sets its own normalization (each component by its group, the sum by "
                f"the batch): leave baseline='mean' and adv_scale='group', got {self.baseline!r}, {self.adv_scale!r}",
            )
        if self.supervision == "process":
            defaults = {f.name: f.default for f in fields(self)}
            outcome_only = ("baseline", "adv_scale", "reward_weights", "multi_reward_norm", "ratio_level")
            changed = [name for name in outcome_only if getattr(self, name) != defaults[name]]
            _check(
                not changed,
                f"{', '.join(changed)} apply to outcome supervision (one reward and one advantage per completion); "
                "with supervision='process' leave them at their defaults",
            )


@dataclass(frozen=True)
class PPOConfig(RLConfig):
    """PPO: the shared settings plus the critic and GAE (kl_coef weighs the KL folded into the reward)."""

    critic_lr: float = 1e-3
    value_clip_eps: float = 0.2  # the critic's values move at most this far from the sampling-time values
    gamma: float = 1.0  # discount
    lam: float = 0.95  # GAE lambda
    whiten_advantages: int = 1  # 1: normalize advantages over the batch's tokens; 0: use them raw

    def __post_init__(self):
        super().__post_init__()
        _check(self.critic_lr > 0, f"critic_lr must be positive, got {self.critic_lr}")
        _check(self.value_clip_eps > 0, f"value_clip_eps must be positive, got {self.value_clip_eps}")
        _check(0 <= self.gamma <= 1, f"gamma must be in [0, 1], got {self.gamma}")
        _check(0 <= self.lam <= 1, f"lam must be in [0, 1], got {self.lam}")
        _check(self.whiten_advantages in (0, 1), f"whiten_advantages must be 0 or 1, got {self.whiten_advantages}")


def from_dict(cls, values: dict):
    """Build a config dataclass from a dict, refusing unknown keys by name."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    return cls(**values)
