"""Each GRPO variant is one config switch: it changes exactly what it should in train_grpo, nothing else.

A one-step run with the same seed samples the same completions whatever the switch, so the
advantages and objective arguments the trainer hands to grpo_objective can be compared with the
default run's (the equations themselves are tested in test_objective, test_step3_group_norm,
test_step4_ratio_clip and test_multi_reward).
"""

import copy

import numpy as np
import pytest
import torch

import minigrpo.grpo.trainer as trainer
from minigrpo.__main__ import _config, build_parser
from minigrpo.config import GRPOConfig
from minigrpo.grpo.trainer import objective_options, outcome_advantages, train_grpo

G = 4


def config(**switches):
    small = {"steps": 1, "prompts_per_step": 6, "group_size": G, "max_new_tokens": 10, "eval_every": 1000}
    return GRPOConfig(**{**small, **switches})


def first_objective_call(monkeypatch, easy_warm_start, **switches):
    """(adv per completion [B, G], keyword arguments) of the first grpo_objective call of a 1-step run."""
    model, train = easy_warm_start
    calls, original = [], trainer.grpo_objective

    def spy(logp, old_logp, ref_logp, adv, mask, kl_coef, clip_eps, **kwargs):
        calls.append((adv[..., 0].clone(), dict(kwargs, kl_coef=kl_coef, clip_eps=clip_eps)))
        return original(logp, old_logp, ref_logp, adv, mask, kl_coef, clip_eps, **kwargs)

    monkeypatch.setattr(trainer, "grpo_objective", spy)
    train_grpo(copy.deepcopy(model), config(**switches), train, train[:2], progress=False)
    return calls[0]


@pytest.fixture
def default_call(monkeypatch, easy_warm_start):
    adv, kwargs = first_objective_call(monkeypatch, easy_warm_start)
    assert kwargs == {"clip_eps_high": None, "aggregation": "grpo", "max_len": 10, "ratio_level": "token",
                      "kl_coef": 0.04, "clip_eps": 0.2}
    assert (adv != 0).any()  # the seed gives groups with signal, so the comparisons below mean something
    return adv, kwargs


@pytest.mark.parametrize(
    "switches, changed",
    [
        ({"aggregation": "dapo"}, {"aggregation": "dapo"}),
        ({"aggregation": "dr_grpo"}, {"aggregation": "dr_grpo"}),
        ({"clip_eps_high": 0.28}, {"clip_eps_high": 0.28}),
        ({"ratio_level": "sequence", "clip_eps": 3e-4, "clip_eps_high": 4e-4},
         {"ratio_level": "sequence", "clip_eps": 3e-4, "clip_eps_high": 4e-4}),
    ],
)
def test_objective_switches_change_only_their_argument(monkeypatch, easy_warm_start, default_call, switches, changed):
    adv, kwargs = first_objective_call(monkeypatch, easy_warm_start, **switches)
    assert torch.equal(adv, default_call[0])
    assert kwargs == {**default_call[1], **changed}


def test_leave_one_out_scales_each_advantage_by_g_over_g_minus_1(monkeypatch, easy_warm_start, default_call):
    adv, kwargs = first_objective_call(monkeypatch, easy_warm_start, baseline="leave_one_out")
    assert kwargs == default_call[1]
    torch.testing.assert_close(adv, G / (G - 1) * default_call[0])


def test_no_scale_keeps_the_reward_units(monkeypatch, easy_warm_start, default_call):
    # Dr. GRPO: rewards are 0 or 1, so in a group with both, right minus wrong is exactly 1
    adv, kwargs = first_objective_call(monkeypatch, easy_warm_start, adv_scale="none")
    assert kwargs == default_call[1]
    signal = default_call[0].abs().sum(1) > 0
    torch.testing.assert_close((adv.amax(1) - adv.amin(1))[signal], torch.ones(int(signal.sum())))
    assert torch.equal(torch.sign(adv), torch.sign(default_call[0]))


def test_batch_scale_uses_one_divisor_for_every_group(monkeypatch, easy_warm_start, default_call):
    adv, kwargs = first_objective_call(monkeypatch, easy_warm_start, adv_scale="batch")
    assert kwargs == default_call[1]
    spread = (adv.amax(1) - adv.amin(1))[default_call[0].abs().sum(1) > 0]
    torch.testing.assert_close(spread, torch.full_like(spread, spread[0].item()))  # 1 / (batch std + eps)
    assert torch.equal(torch.sign(adv), torch.sign(default_call[0]))


def test_gdpo_with_one_component_divides_step_3_by_its_batch_std(monkeypatch, easy_warm_start, default_call):
    adv, kwargs = first_objective_call(monkeypatch, easy_warm_start, multi_reward_norm="gdpo")
    assert kwargs == default_call[1]
    torch.testing.assert_close(adv, default_call[0] / (default_call[0].std() + 1e-4))


def numpy_weighted_advantages(components, weights, eps, gdpo):
    """GRPO normalizes sum_k w_k r_k in the group; GDPO normalizes each r_k in the group, sums, divides by the batch."""
    def group_norm(r):
        out = (r - r.mean(1, keepdims=True)) / (r.std(1, ddof=1, keepdims=True) + eps)
        return np.where(r.std(1, keepdims=True) > 0, out, 0.0)

    if not gdpo:
        return group_norm((components * weights).sum(-1))
    summed = sum(w * group_norm(components[..., k]) for k, w in enumerate(weights))
    return summed / (summed.std(ddof=1) + eps)


@pytest.mark.parametrize("norm", ["sum", "gdpo"])
def test_outcome_advantages_weigh_the_named_components(norm):
    rng = np.random.default_rng(0)
    components = np.stack([rng.integers(0, 2, (3, 5)), rng.integers(0, 2, (3, 5)), -rng.uniform(0, 1, (3, 5))], -1)
    cfg = GRPOConfig(reward_weights="correct=1,format=0.5,length=0.25", multi_reward_norm=norm)
    weights = {"correct": 1.0, "format": 0.5, "length": 0.25}
    got = outcome_advantages(torch.tensor(components, dtype=torch.float64), weights, cfg).numpy()
    expected = numpy_weighted_advantages(components, np.array([1.0, 0.5, 0.25]), 1e-4, norm == "gdpo")
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_multi_reward_components_are_scored_and_logged(easy_warm_start):
    model, train = easy_warm_start
    records = []
    cfg = config(reward_weights="correct=1,format=0.5,length=0.5", multi_reward_norm="gdpo", steps=2)
    train_grpo(copy.deepcopy(model), cfg, train, train[:2], log=records.append, progress=False)
    assert 0 <= records[1]["reward_format"] <= 1 and -1 <= records[1]["reward_length"] <= 0
    assert "reward_correct" not in records[1]  # that is reward_mean


def test_objective_options_default_to_deepseekmath_eq3():
    assert objective_options(GRPOConfig()) == {"clip_eps_high": None, "aggregation": "grpo", "max_len": 32,
                                                "ratio_level": "token"}


def test_reference_is_reset_to_the_policy_every_k_steps(monkeypatch, easy_warm_start):
    """Iterative GRPO: pi_ref <- pi_theta before steps K+1, 2K+1, ...; the KL there is exactly 0."""
    model, train = easy_warm_start
    policy = copy.deepcopy(model)
    reference_equals_policy, original = [], trainer.group_logprobs

    def spy(model, group, temperature=1.0):
        if model is not policy:  # the reference's forward pass, before this step's update
            pairs = zip(model.state_dict().values(), policy.state_dict().values())
            reference_equals_policy.append(all(torch.equal(a, b) for a, b in pairs))
        return original(model, group, temperature)

    monkeypatch.setattr(trainer, "group_logprobs", spy)
    records = []
    train_grpo(policy, config(steps=5, ref_reset_every=2, lr=1e-2), train, train[:2], log=records.append,
               progress=False)
    assert reference_equals_policy == [True, False, True, False, True]
    kl = [r["kl"] for r in records[1:]]
    assert kl[0] == kl[2] == kl[4] == 0.0 and kl[1] > 0 and kl[3] > 0


def test_without_resets_the_reference_stays_the_warm_start(easy_warm_start):
    model, train = easy_warm_start
    records = []
    train_grpo(copy.deepcopy(model), config(steps=3, lr=1e-2), train, train[:2], log=records.append, progress=False)
    assert [r["kl"] > 0 for r in records[1:]] == [False, True, True]


def test_every_step_records_its_phase_times(easy_warm_start):
    model, train = easy_warm_start
    records = []
    train_grpo(copy.deepcopy(model), config(steps=2, num_inner_steps=2), train, train[:2], log=records.append,
               progress=False)
    for record in records[1:]:
        phases = [record[k] for k in ("sample_s", "score_s", "ref_s", "fwd_bwd_s", "opt_s")]
        assert all(p >= 0 for p in phases) and record["wall_s"] >= sum(phases)


def test_every_switch_is_a_command_line_flag():
    args = build_parser().parse_args([
        "grpo", "--aggregation", "dapo", "--adv-scale", "none", "--baseline", "leave_one_out",
        "--clip-eps-high", "0.28", "--ratio-level", "sequence", "--reward-weights", "correct=1,format=0.5",
        "--multi-reward-norm", "sum", "--ref-reset-every", "50",
    ])
    cfg = _config(GRPOConfig, args)
    assert (cfg.aggregation, cfg.adv_scale, cfg.baseline, cfg.clip_eps_high, cfg.ratio_level, cfg.reward_weights,
            cfg.ref_reset_every) == ("dapo", "none", "leave_one_out", 0.28, "sequence", "correct=1,format=0.5", 50)
