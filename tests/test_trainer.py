"""The GRPO loop end to end: it raises reward on an easy setting, and same seed gives same numbers."""

import copy

import pytest
import torch

from minigrpo.config import GRPOConfig, ModelConfig, TaskConfig, WarmupConfig
from minigrpo.grpo import sample_group, score_outcomes
from minigrpo.grpo.trainer import train_grpo
from minigrpo.rewards import outcome_reward
from minigrpo.task import make_splits
from minigrpo.warmup import warm_start

EASY = TaskConfig(num_operands=2, digits=1, operators="+", n_train=40, n_test=10)


@pytest.fixture(scope="module")
def easy_warm_start():
    """A one-layer GPT that has barely learned one-digit sums (about 1 sample in 6 is right)."""
    train, _ = make_splits(EASY)
    model = warm_start(ModelConfig(n_layer=1, n_head=2, n_embd=64, block_size=32),
                       WarmupConfig(steps=60, batch_size=40, lr=3e-3, eval_every=10_000),
                       train, train[:4], torch.device("cpu"), progress=False)
    return model, train


def run(model, train, supervision="outcome", steps=3, seed=0):
    records = []
    cfg = GRPOConfig(steps=steps, prompts_per_step=16, group_size=8, lr=1e-3, max_new_tokens=10,
                     eval_every=1000, supervision=supervision, seed=seed)
    train_grpo(model, cfg, train, train[:8], log=records.append, progress=False)
    return records


def sampled_reward(model, problems) -> float:
    """Mean outcome reward of 16 temperature-1 samples per problem: the quantity GRPO maximizes."""
    group = sample_group(model, problems, 16, 10, 1.0, torch.Generator().manual_seed(123))
    return score_outcomes(outcome_reward, group).mean().item()


@pytest.mark.parametrize("supervision", ["outcome", "process"])
def test_grpo_raises_reward_on_an_easy_setting(easy_warm_start, supervision):
    model, train = easy_warm_start
    model = copy.deepcopy(model)
    before = sampled_reward(model, train)
    run(model, train, supervision, steps=80)
    after = sampled_reward(model, train)
    assert 0.05 < before < 0.3
    assert after >= before + 0.1


@pytest.mark.parametrize("supervision", ["outcome", "process"])
def test_same_seed_same_metrics(easy_warm_start, supervision):
    model, train = easy_warm_start
    a = run(copy.deepcopy(model), train, supervision)
    b = run(copy.deepcopy(model), train, supervision)
    strip = lambda records: [{k: v for k, v in r.items() if k != "wall_s"} for r in records]  # noqa: E731
    assert strip(a) == strip(b)
    assert len(a) == 4 and all(r["clip_frac"] == 0.0 for r in a[1:])  # mu = 1: the ratio is 1
