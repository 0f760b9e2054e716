"""Step 3: group normalization (r - mean) / (std + eps), checked against float64 numpy."""

import numpy as np
import pytest
import torch

from minigrpo.grpo import broadcast_to_tokens, group_advantages


def numpy_group_advantages(rewards: np.ndarray, eps: float) -> np.ndarray:
    """The formula written out independently: sample std (ddof=1), eps added to it."""
    mean = rewards.mean(axis=1, keepdims=True)
    std = rewards.std(axis=1, ddof=1, keepdims=True)
    return (rewards - mean) / (std + eps)


def test_matches_numpy_on_random_rewards():
    rewards = np.random.default_rng(0).normal(size=(5, 7))
    got = group_advantages(torch.tensor(rewards), eps=1e-4).numpy()
    np.testing.assert_allclose(got, numpy_group_advantages(rewards, 1e-4), rtol=1e-12)


def test_worked_example_by_hand():
    # rewards 1, 0, 0, 1: mean 1/2, sample std sqrt((4 * 1/4) / 3) = 1/sqrt(3)
    adv = group_advantages(torch.tensor([[1.0, 0.0, 0.0, 1.0]], dtype=torch.float64), eps=0.0)
    half_root3 = 0.5 * 3**0.5
    torch.testing.assert_close(adv, torch.tensor([[half_root3, -half_root3, -half_root3, half_root3]],
                                                 dtype=torch.float64))


def test_advantages_sum_to_zero_within_each_group():
    adv = group_advantages(torch.rand(4, 8, dtype=torch.float64))
    torch.testing.assert_close(adv.sum(1), torch.zeros(4, dtype=torch.float64))


@pytest.mark.parametrize("value", [0.0, 1.0, 0.3, 1e6])
def test_zero_spread_gives_exactly_zero_and_no_nan(value):
    rewards = torch.tensor([[value] * 6, [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]])
    adv = group_advantages(rewards, eps=0.0)  # even with no eps to save it
    assert torch.equal(adv[0], torch.zeros(6))
    assert torch.isfinite(adv).all() and adv[1].abs().sum() > 0


def test_broadcast_gives_every_token_the_completion_advantage_and_padding_zero():
    adv = torch.tensor([[0.5, -2.0]])
    mask = torch.tensor([[[True, True, False], [True, False, False]]])
    expected = torch.tensor([[[0.5, 0.5, 0.0], [-2.0, 0.0, 0.0]]])
    assert torch.equal(broadcast_to_tokens(adv, mask), expected)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="G >= 2"):
        group_advantages(torch.zeros(3, 1))
    with pytest.raises(ValueError, match=r"\[B, G\]"):
        group_advantages(torch.zeros(6))
    with pytest.raises(ValueError, match="does not match"):
        broadcast_to_tokens(torch.zeros(2, 3), torch.ones(2, 4, 5, dtype=torch.bool))


# Variants: baseline "mean" | "leave_one_out", scale "group" | "batch" | "none".

COMBINATIONS = [(b, s) for b in ("mean", "leave_one_out") for s in ("group", "batch", "none")]


def numpy_variant_advantages(rewards: np.ndarray, eps: float, baseline: str, scale: str) -> np.ndarray:
    """Loops, written from the formulas: A_i = (r_i - b_i) / s."""
    B, G = rewards.shape
    adv = np.empty_like(rewards)
    for b in range(B):
        for i in range(G):
            others = [rewards[b, j] for j in range(G) if j != i]
            base = rewards[b].mean() if baseline == "mean" else sum(others) / (G - 1)
            adv[b, i] = rewards[b, i] - base
    if scale == "group":
        adv /= rewards.std(axis=1, ddof=1, keepdims=True) + eps
    elif scale == "batch":
        adv /= rewards.std(ddof=1) + eps
    return adv


@pytest.mark.parametrize("baseline, scale", COMBINATIONS)
def test_every_variant_matches_numpy(baseline, scale):
    rewards = np.random.default_rng(1).normal(size=(4, 5))
    got = group_advantages(torch.tensor(rewards), 1e-4, baseline=baseline, scale=scale).numpy()
    np.testing.assert_allclose(got, numpy_variant_advantages(rewards, 1e-4, baseline, scale), rtol=1e-12)


@pytest.mark.parametrize("baseline, scale", COMBINATIONS)
def test_zero_spread_gives_exactly_zero_and_no_nan_in_every_variant(baseline, scale):
    rewards = torch.tensor([[0.3] * 4, [0.0, 1.0, 0.0, 0.0]])
    adv = group_advantages(rewards, eps=0.0, baseline=baseline, scale=scale)
    assert torch.equal(adv[0], torch.zeros(4))
    assert torch.isfinite(adv).all() and adv[1].abs().sum() > 0
    # a batch with no spread at all: the batch std is 0 too, and eps = 0 cannot save it
    flat = group_advantages(torch.full((3, 4), 0.7), eps=0.0, baseline=baseline, scale=scale)
    assert torch.equal(flat, torch.zeros(3, 4))


def test_leave_one_out_is_the_mean_baseline_times_g_over_g_minus_1():
    # rewards 1, 0, 0, 1: r_1 - mean(0, 0, 1) = 2/3 and r_1 - mean(r) = 1/2, ratio G/(G-1) = 4/3
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    loo = group_advantages(rewards, baseline="leave_one_out", scale="none")
    torch.testing.assert_close(loo, torch.tensor([[2 / 3, -2 / 3, -2 / 3, 2 / 3]], dtype=torch.float64))
    torch.testing.assert_close(loo, 4 / 3 * group_advantages(rewards, scale="none"))


def test_batch_scale_divides_every_group_by_one_std_by_hand():
    # all rewards 1, 0, 1, 1: mean 3/4, sample variance (3 * 1/16 + 9/16) / 3 = 1/4, std 1/2
    rewards = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    adv = group_advantages(rewards, eps=0.0, scale="batch")
    torch.testing.assert_close(adv, torch.tensor([[1.0, -1.0], [0.0, 0.0]], dtype=torch.float64))


def test_no_scale_keeps_the_reward_units():
    # Dr. GRPO: r - mean(r), so a group with twice the spread gets twice the advantage
    adv = group_advantages(torch.tensor([[0.0, 1.0], [0.0, 2.0]], dtype=torch.float64), scale="none")
    torch.testing.assert_close(adv, torch.tensor([[-0.5, 0.5], [-1.0, 1.0]], dtype=torch.float64))


def test_unknown_baseline_or_scale_is_refused():
    with pytest.raises(ValueError, match="baseline must be one of"):
        group_advantages(torch.zeros(2, 3), baseline="median")
    with pytest.raises(ValueError, match="scale one of"):
        group_advantages(torch.zeros(2, 3), scale="global")
