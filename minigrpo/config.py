"""Configuration as data: one dataclass per component, validated on construction. Defaults run on a 2-core
CPU in minutes. Every field is a flag (``group_size`` -> ``--group-size``) whose ``--help`` is its ``help`` below;
symbols follow the glossary in ``minigrpo/__init__.py``."""

from __future__ import annotations

import math
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import ClassVar


def option(default, help: str, within: str | None = None):
    """A config field with the one line that ``--help`` prints for it; ``within`` is a float's range, e.g. '(0, 1]'."""
    metadata = {"help": help, "within": within}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def default_of(f: Field):
    """A field's default value, whether given directly or by a factory."""
    return f.default_factory() if f.default is MISSING else f.default


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def check_positive(cfg, *names: str) -> None:
    for name in names:
        check(getattr(cfg, name) > 0, f"{name} must be positive, got {getattr(cfg, name)}")


def check_floats(cfg) -> None:
    """Every float field is a finite number in its range ``within`` ('(0, 1]' is 0 < value <= 1). Finite first:
    inf passes 'lr > 0' ('1e400' parses as inf), and nan fails every test but says nothing."""
    for f in (f for f in fields(cfg) if f.type == "float"):
        value, within = getattr(cfg, f.name), f.metadata["within"]
        check(type(value) in (int, float) and math.isfinite(value), f"{f.name} must be a finite number, got {value!r}")
        low, high = (float(bound) for bound in within[1:-1].split(","))
        check((low < value if within[0] == "(" else low <= value) and (value < high if within[-1] == ")"
               else value <= high), f"{f.name} must be in {within}, got {value}")


def from_dict(cls, values: dict):
    """Build a config dataclass from a dict, refusing unknown keys by name."""
    unknown = sorted(set(values) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    return cls(**values)


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
        check(2 <= self.num_operands <= 8, f"num_operands must be in [2, 8], got {self.num_operands}")
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

    def __post_init__(self):
        check_floats(self)
        check_positive(self, "steps", "prompts_per_step", "group_size", "num_inner_steps", "max_new_tokens",
                        "eval_every")
        check(self.device in DEVICES, f"device must be one of {DEVICES}, got {self.device!r}")


@dataclass(frozen=True)
class GRPOConfig(RLConfig):
    """GRPO as DeepSeekMath trains it (Sec. 4.1, Algorithm 1): the shared settings, the group's normalization, the
    kind of supervision, and the outer loop's reference reset."""

    adv_eps: float = option(1e-4, "eps added to the group's reward std before dividing by it", "(0, 1]")
    supervision: str = option("outcome", "'outcome': one reward per completion, 'process': one per step")
    ref_reset_every: int = option(0, "Algorithm 1's outer loop: pi_ref <- pi_theta every this many steps; 0: never")
    supervisions: ClassVar[tuple[str, ...]] = ("outcome", "process")  # what ``supervision`` may be

    def __post_init__(self):
        super().__post_init__()
        check(self.group_size >= 2, f"group_size must be at least 2 (one has no baseline), got {self.group_size}")
        check(self.supervision in self.supervisions,
              f"supervision must be one of {self.supervisions}, got {self.supervision!r}")
        check(isinstance(self.ref_reset_every, int) and self.ref_reset_every >= 0,
              f"ref_reset_every must be >= 0 (0: never), got {self.ref_reset_every}")
        check(self.ref_reset_every == 0 or self.kl_coef > 0,
              "ref_reset_every needs kl_coef > 0: without the KL term there is no reference policy to reset")


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
