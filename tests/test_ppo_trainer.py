"""The PPO loop: it shares GRPO's steps, raises reward on the easy setting, and is deterministic."""

import copy
import inspect

import pytest
import torch

import minigrpo.grpo.trainer as grpo_trainer
import minigrpo.ppo.trainer as ppo_trainer
from minigrpo import grpo
from minigrpo.config import PPOConfig
from minigrpo.ppo.trainer import train_ppo
from minigrpo.task import parse_problem


def run(model, train, steps=3):
    records = []
    cfg = PPOConfig(steps=steps, prompts_per_step=16, group_size=8, lr=1e-3, critic_lr=1e-3, max_new_tokens=10,
                    eval_every=1000)
    critic = train_ppo(model, cfg, train, train[:8], log=records.append, progress=False)
    return records, critic


def test_ppo_reuses_grpos_steps_instead_of_copying_them():
    for step in ("sample_group", "group_logprobs", "score_outcomes", "probability_ratio", "clipped_surrogate", "kl_k3"):
        assert getattr(ppo_trainer, step) is getattr(grpo, step)
    for shared in ("frozen_copy", "clip_fraction", "step_metrics", "clip_grad_norm_"):
        assert getattr(ppo_trainer, shared) is getattr(grpo_trainer, shared)
    # and it does not define its own ratio, clip or sampling code
    source = inspect.getsource(ppo_trainer)
    for copied in ("torch.clamp", "torch.exp", "multinomial"):
        assert copied not in source


def test_ppo_raises_reward_on_an_easy_setting(easy_warm_start, sampled_reward):
    model, train = easy_warm_start
    model = copy.deepcopy(model)
    before = sampled_reward(model, train)
    records, _ = run(model, train, steps=80)
    after = sampled_reward(model, train)
    assert after >= before + 0.1
    assert records[-1]["explained_variance"] > 0.0  # the critic has learned something


def test_same_seed_same_metrics(easy_warm_start):
    model, train = easy_warm_start
    a, critic_a = run(copy.deepcopy(model), train)
    b, critic_b = run(copy.deepcopy(model), train)
    strip = lambda records: [{k: v for k, v in r.items() if k != "wall_s"} for r in records]  # noqa: E731
    assert strip(a) == strip(b)
    for pa, pb in zip(critic_a.parameters(), critic_b.parameters()):
        assert (pa == pb).all()


@pytest.mark.parametrize("bad", [{"gamma": 1.5}, {"lam": -0.1}, {"critic_lr": 0.0}, {"whiten_advantages": 1}])
def test_bad_ppo_config_is_refused_by_name(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        PPOConfig(**bad)


def test_the_value_clip_is_anchored_at_the_sampling_time_values(tiny_model, monkeypatch):
    # V_old must be the critic's values when the batch was sampled, at every inner step. Recomputed from the
    # current critic instead, V - V_old is always 0 and the clip never acts (tf-agents #352). The fresh critic's
    # head is zero, so at the first step V_old is exactly 0 everywhere: an anchor computed without the trainer.
    calls = []

    def recording(values, old_values, returns, mask, clip_eps):
        calls.append((values.detach().clone(), old_values.clone(), mask))
        return real(values, old_values, returns, mask, clip_eps)

    real = ppo_trainer.clipped_value_loss
    monkeypatch.setattr(ppo_trainer, "clipped_value_loss", recording)
    monkeypatch.setattr(ppo_trainer, "outcome_reward", lambda problem, completion: 1.0)  # returns != 0: V moves
    problems = [parse_problem("1+2-3"), parse_problem("45-6+78")]
    cfg = PPOConfig(steps=1, prompts_per_step=2, group_size=2, num_inner_steps=3, max_new_tokens=6,
                    critic_lr=1e-2, value_clip_eps=0.01, eval_every=1000)
    train_ppo(tiny_model, cfg, problems, problems[:1], progress=False)
    assert len(calls) == 3
    for _, old_values, _ in calls:
        assert torch.equal(old_values, torch.zeros_like(old_values))
    values, old_values, mask = calls[-1]
    assert (values - old_values)[mask].abs().max() > cfg.value_clip_eps  # the critic moved past the clip


def test_the_labs_ppo_reuses_the_textbooks_steps_instead_of_copying_them():
    """The lab's loop (lab/loop.py) trains PPO with the same functions as ppo/trainer.py, not copies of them."""
    import minigrpo.lab.loop as lab_loop

    for step in ("kl_penalized_rewards", "gae", "whiten", "clipped_value_loss", "critic_metrics", "completion_values",
                 "ValueModel", "clipped_surrogate", "probability_ratio", "kl_k3", "clip_fraction", "step_metrics"):
        assert getattr(lab_loop, step) is getattr(ppo_trainer, step), step
