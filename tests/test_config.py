"""Invalid configurations stop with a message that names the problem."""

import pytest

from minigrpo.config import GRPOConfig, ModelConfig, TaskConfig, WarmupConfig, from_dict
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
    ],
)
def test_invalid_grpo_config_names_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GRPOConfig(**kwargs)


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
