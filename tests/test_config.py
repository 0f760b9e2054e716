"""Invalid configurations stop with a message that names the problem; the paper's configs hold the paper's fields
only, the lab's add the switches."""

import math
from dataclasses import fields

import pytest
import torch

from minigrpo import rewards
from minigrpo.config import (
    GRPOConfig,
    ModelConfig,
    PPOConfig,
    RLConfig,
    TaskConfig,
    WarmupConfig,
    from_dict,
)
from minigrpo.lab import config as lab_config
from minigrpo.lab.config import BenchConfig, LabGRPOConfig, LabPPOConfig, RewardModelConfig
from minigrpo.lab.runs import resolve_device
from minigrpo.lab.variants.credit import mean_over_steps
from minigrpo.lab.variants.variants import kl_in_loss, rescaled_advantages, sequence_ratio
from minigrpo.masked import aggregate

CONFIGS = (TaskConfig, ModelConfig, WarmupConfig, GRPOConfig, PPOConfig, LabGRPOConfig, LabPPOConfig,
           RewardModelConfig, BenchConfig)

# What both GRPO configs refuse: the paper's fields
PAPER_REFUSALS = [
    ({"group_size": 1}, "group_size"),
    ({"clip_eps": 0.0}, "clip_eps"),
    ({"clip_eps": 1.0}, "clip_eps"),
    ({"kl_coef": -0.1}, "kl_coef"),
    ({"device": "tpu"}, "device"),
    ({"supervision": "both"}, "supervision"),
    ({"temperature": 0}, "temperature"),
    ({"num_inner_steps": 0}, "num_inner_steps"),
    ({"ref_reset_every": -1}, "ref_reset_every"),
    ({"ref_reset_every": 1.5}, "ref_reset_every"),
    ({"ref_reset_every": 50, "kl_coef": 0.0}, "ref_reset_every needs kl_coef > 0"),
]


@pytest.mark.parametrize("cls", [GRPOConfig, LabGRPOConfig])
@pytest.mark.parametrize("kwargs, message", PAPER_REFUSALS)
def test_invalid_grpo_config_names_the_field(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


def test_the_papers_grpo_has_two_supervisions_and_the_lab_a_third():
    with pytest.raises(ValueError, match=r"supervision must be one of \('outcome', 'process'\), got 'monte_carlo'"):
        GRPOConfig(supervision="monte_carlo")
    assert LabGRPOConfig(supervision="monte_carlo").supervision == "monte_carlo"
    assert GRPOConfig.supervisions == ("outcome", "process")
    assert LabGRPOConfig.supervisions == ("outcome", "process", "monte_carlo")


def test_the_papers_configs_hold_the_papers_fields_only():
    shared = [f.name for f in fields(RLConfig)]
    assert [f.name for f in fields(GRPOConfig)] == shared + ["adv_eps", "supervision", "ref_reset_every"]
    assert [f.name for f in fields(PPOConfig)] == shared + ["critic_lr", "value_clip_eps", "gamma", "lam",
                                                            "whiten_advantages"]
    for paper, lab in ((GRPOConfig, LabGRPOConfig), (PPOConfig, LabPPOConfig)):
        paper_fields = [f.name for f in fields(paper)]
        lab_only = [f for f in fields(lab) if f.name not in paper_fields]
        assert [f.name for f in fields(lab)][: len(paper_fields)] == paper_fields  # the lab's extends the paper's
        assert lab_only and "fast" in [f.name for f in lab_only]
        for f in lab_only:  # a switch given to the paper's config is refused by name
            with pytest.raises(ValueError, match=f"unknown {paper.__name__} field.*{f.name}"):
                from_dict(paper, {f.name: getattr(lab(), f.name)})
            with pytest.raises(TypeError, match=f.name):
                paper(**{f.name: getattr(lab(), f.name)})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"aggregation": "token_mean"}, "aggregation must be one of"),
        ({"adv_scale": "global"}, "adv_scale must be one of"),
        ({"baseline": "median"}, "baseline must be one of"),
        ({"ratio_level": "completion"}, "ratio_level must be one of"),
        ({"multi_reward_norm": "mean"}, "multi_reward_norm must be one of"),
        ({"clip_eps_high": -0.1}, "clip_eps_high"),
        ({"fast": "yes"}, "fast must be True or False"),
        ({"multi_reward_norm": "gdpo", "adv_scale": "none"}, "gdpo.*sets its own normalization"),
        ({"supervision": "process", "baseline": "leave_one_out"}, "baseline apply to supervision='outcome' only"),
        ({"supervision": "process", "reward_weights": {"correct": 1, "format": 1}, "ratio_level": "sequence"},
         "reward_weights, ratio_level apply to supervision='outcome'"),
        ({"supervision": "monte_carlo", "adv_scale": "none"}, "adv_scale apply to supervision='outcome'"),
        ({"process_scale": "mean"}, "process_scale apply to supervision='process'"),
        ({"step_label_noise": 0.1}, "step_label_noise apply to supervision='process'"),
        ({"supervision": "process", "mc_samples": 8}, "mc_samples apply to supervision='monte_carlo'"),
        ({"supervision": "process", "process_scale": "max"}, "process_scale must be one of"),
        ({"supervision": "process", "step_label_noise": 1.0}, "step_label_noise must be in"),
        ({"supervision": "process", "step_label_noise": -0.1}, "step_label_noise must be in"),
        ({"supervision": "monte_carlo", "mc_samples": 1}, "mc_samples must be at least 2"),
        ({"kl_estimator": "k4"}, "kl_estimator must be one of"),
        ({"kl_estimator": "k1_reward", "supervision": "process"}, "k1_reward.*needs supervision='outcome'"),
        ({"kl_estimator": "k1_reward", "reward_weights": {"correct": 1, "format": 1}, "multi_reward_norm": "gdpo"},
         "k1_reward.*multi_reward_norm='sum'"),
        ({"reward_model": "a.pt", "random_reward": 0.5}, "random_reward replaces the reward"),
    ],
)
def test_invalid_lab_grpo_config_names_the_switch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LabGRPOConfig(**kwargs)


def test_invalid_lab_ppo_config_names_the_switch():
    with pytest.raises(ValueError, match="fast must be True or False"):
        LabPPOConfig(fast=1)
    with pytest.raises(ValueError, match="gamma"):
        LabPPOConfig(gamma=1.5)  # and the paper's checks still run


@pytest.mark.parametrize(
    "weights", [{"correct": 0}, {"correct": -1.0}, {"correct": math.nan}, {"format": math.inf}, {"speed": 1.0}, {},
                "correct=1", {"correct": "1"}],
)
def test_bad_reward_weights_are_refused(weights):
    with pytest.raises(ValueError, match="reward_weights must map names from"):
        LabGRPOConfig(reward_weights=weights)


def test_variant_choices_are_the_ones_the_functions_take():
    """Every choice the config accepts is one the function that reads it takes (no choice the loop cannot run)."""
    rewards_ = torch.tensor([[0.0, 1.0, 1.0]])
    for baseline in lab_config.BASELINES:
        for scale in lab_config.ADV_SCALES:
            rescaled_advantages(rewards_, 1e-4, baseline, scale)
    x, mask = torch.zeros(1, 2, 3), torch.ones(1, 2, 3, dtype=torch.bool)
    for how in lab_config.AGGREGATIONS:
        aggregate(x, mask, how, 3)
    for estimator in lab_config.KL_ESTIMATORS:
        kl_in_loss(x, x, x, estimator)
    assert lab_config.AGGREGATIONS[0] == "grpo" and lab_config.RATIO_LEVELS == ("token", "sequence")
    sequence_ratio(x, x, mask)
    assert lab_config.PROCESS_SCALES == ("sum", "mean")
    mean_over_steps(x, mask)
    assert lab_config.MULTI_REWARD_NORMS == ("sum", "gdpo") and lab_config.BASELINES[0] == "mean"
    assert lab_config.REWARD_COMPONENTS == tuple(rewards.COMPONENTS)
    assert set(lab_config.SUPERVISION_OPTIONS) == set(LabGRPOConfig.supervisions)


@pytest.mark.parametrize("cls", CONFIGS)
def test_every_field_has_a_help_line_and_a_real_type(cls):
    for f in fields(cls):
        assert f.metadata.get("help", "").strip(), f"{cls.__name__}.{f.name} has no help"
        assert f.type in ("int", "float", "str", "bool", "dict[str, float]"), f"{cls.__name__}.{f.name}: {f.type}"


def test_config_fields_with_real_types():
    assert LabGRPOConfig().reward_weights == {"correct": 1.0} and PPOConfig().whiten_advantages is True
    assert LabGRPOConfig().reward_weights is not LabGRPOConfig().reward_weights  # each config its own dict
    with pytest.raises(ValueError, match="whiten_advantages must be True or False"):
        PPOConfig(whiten_advantages=1)


def test_other_invalid_configs():
    with pytest.raises(ValueError, match="n_head"):
        ModelConfig(n_embd=130, n_head=4)
    with pytest.raises(ValueError, match="operators"):
        TaskConfig(operators="+/")
    with pytest.raises(ValueError, match="device"):
        WarmupConfig(device="gpu")
    with pytest.raises(ValueError, match="unknown GRPOConfig field.*grup_size"):
        from_dict(GRPOConfig, {"grup_size": 4})


def test_defaults_are_valid():
    for cls in CONFIGS:
        cls()


def test_cuda_without_a_gpu_is_an_error(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(ValueError, match="cuda"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


FLOATS = [(cls, f.name) for cls in CONFIGS for f in fields(cls) if f.type == "float"]


@pytest.mark.parametrize("cls, name", FLOATS, ids=lambda x: getattr(x, "__name__", x))
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, float("1e400"), "0.1", True])
def test_every_float_option_refuses_what_is_not_a_finite_number(cls, name, value):
    with pytest.raises(ValueError, match=f"{name} must be a finite number"):
        cls(**{name: value})


PROCESS = {"supervision": "process"}
RL = (GRPOConfig, PPOConfig, LabGRPOConfig, LabPPOConfig)
# (config, field, extra settings) -> values accepted, values refused: the documented range, edge by edge
RANGES = {
    (WarmupConfig, "lr", ()): ([1e-9, 1.0], [0.0, -1e-3, 1.01]),
    (WarmupConfig, "weight_decay", ()): ([0.0, 1.0], [-0.01, 1.01]),
    **{(cls, "lr", ()): ([1e-9, 1.0], [0.0, 1.01]) for cls in RL},
    **{(cls, "clip_eps", ()): ([0.01, 0.99], [0.0, 1.0]) for cls in RL},
    **{(cls, "kl_coef", ()): ([0.0, 100.0], [-1e-9, 100.5]) for cls in RL},
    **{(cls, "temperature", ()): ([1e-3, 1000.0], [9e-4, 1e-40, 1001.0]) for cls in RL},
    **{(cls, "grad_clip", ()): ([1e-6, 1e30], [0.0, -1.0]) for cls in RL},
    **{(cls, "adv_eps", ()): ([1e-12, 1.0], [0.0, 1.5]) for cls in (GRPOConfig, LabGRPOConfig)},
    (RewardModelConfig, "lr", ()): ([1e-9, 1.0], [0.0, 1.01]),
    (RewardModelConfig, "temperature", ()): ([1e-3, 1000.0], [9e-4, 1001.0]),
    (LabGRPOConfig, "step_label_noise", tuple(PROCESS.items())): ([0.0, 0.99], [-0.1, 1.0]),
    (LabGRPOConfig, "clip_eps_high", ()): ([0.0, 0.28], [-0.1, 1.0]),
    (LabGRPOConfig, "random_reward", ()): ([0.0, 0.5, 0.99], [-0.1, 1.0]),
    **{(cls, "critic_lr", ()): ([1e-9, 1.0], [0.0, 2.0]) for cls in (PPOConfig, LabPPOConfig)},
    **{(cls, "value_clip_eps", ()): ([1e-6, 10.0], [0.0, -0.2]) for cls in (PPOConfig, LabPPOConfig)},
    **{(cls, "gamma", ()): ([0.0, 1.0], [-0.1, 1.1]) for cls in (PPOConfig, LabPPOConfig)},
    **{(cls, "lam", ()): ([0.0, 1.0], [-0.1, 1.1]) for cls in (PPOConfig, LabPPOConfig)},
}


def test_every_float_option_has_a_range_and_the_table_below_checks_it():
    assert sorted((cls.__name__, name) for cls, name, _ in RANGES) == sorted((c.__name__, n) for c, n in FLOATS)


@pytest.mark.parametrize("key", RANGES, ids=lambda key: f"{key[0].__name__}.{key[1]}")
def test_every_float_option_accepts_its_range_and_refuses_the_rest(key):
    cls, name, extra = key
    accepted, refused = RANGES[key]
    for value in accepted:
        assert getattr(cls(**dict(extra), **{name: value}), name) == value
    for value in refused:
        with pytest.raises(ValueError, match=rf"{name} must be in [\[(].*[\])], got"):
            cls(**dict(extra), **{name: value})
