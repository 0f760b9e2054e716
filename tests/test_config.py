"""Invalid configurations stop with a message that names the problem."""

import pytest

from minigrpo import config, rewards
from minigrpo.config import GRPOConfig, ModelConfig, TaskConfig, WarmupConfig, from_dict, parse_reward_weights
from minigrpo.grpo import objective, step3_group_norm, step4_ratio_clip
from minigrpo.runtime import resolve_device


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"group_size": 1}, "group_size"),
        ({"clip_eps": 0.0}, "clip_eps"),
        ({"clip_eps": 1.0}, "clip_eps"),
        ({"kl_coef": -0.1}, "kl_coef"),
        ({"device": "tpu"}, "device"),
        ({"supervision": "both"}, "supervision"),
        ({"temperature": 0}, "temperature"),
        ({"num_inner_steps": 0}, "num_inner_steps"),
        ({"aggregation": "token_mean"}, "aggregation must be one of"),
        ({"adv_scale": "global"}, "adv_scale must be one of"),
        ({"baseline": "median"}, "baseline must be one of"),
        ({"ratio_level": "completion"}, "ratio_level must be one of"),
        ({"multi_reward_norm": "mean"}, "multi_reward_norm must be one of"),
        ({"clip_eps_high": -0.1}, "clip_eps_high"),
        ({"ref_reset_every": -1}, "ref_reset_every"),
        ({"ref_reset_every": 50, "kl_coef": 0.0}, "ref_reset_every needs kl_coef > 0"),
        ({"multi_reward_norm": "gdpo", "adv_scale": "none"}, "gdpo.*sets its own normalization"),
        ({"supervision": "process", "baseline": "leave_one_out"}, "baseline apply to outcome supervision"),
        ({"supervision": "process", "reward_weights": "correct=1,format=1", "ratio_level": "sequence"},
         "reward_weights, ratio_level apply to outcome"),
    ],
)
def test_invalid_grpo_config_names_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GRPOConfig(**kwargs)


@pytest.mark.parametrize(
    "text", ["correct", "correct=0", "correct=-1", "correct=nan", "format=inf", "speed=1", "correct=1,correct=2",
             "correct=1,", ""],
)
def test_bad_reward_weights_are_refused(text):
    with pytest.raises(ValueError, match="reward_weights must be 'name=weight' pairs"):
        GRPOConfig(reward_weights=text)


def test_reward_weights_parse_in_order():
    assert parse_reward_weights("correct=1, format=0.5,length=2e-1") == {"correct": 1.0, "format": 0.5, "length": 0.2}


def test_variant_choices_are_the_ones_the_functions_take():
    assert config.BASELINES == step3_group_norm.BASELINES and config.ADV_SCALES == step3_group_norm.SCALES
    assert config.AGGREGATIONS == objective.AGGREGATIONS
    assert config.RATIO_LEVELS == step4_ratio_clip.RATIO_LEVELS
    assert config.REWARD_COMPONENTS == tuple(rewards.COMPONENTS)


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
    for cls in (GRPOConfig, ModelConfig, TaskConfig, WarmupConfig):
        cls()


def test_cuda_without_a_gpu_is_an_error(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(ValueError, match="cuda"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"
