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
    with pytest.raises(ValueError, match=r"adv \(2, 3\) and mask \(2, 4, 5\) must match"):
        broadcast_to_tokens(torch.zeros(2, 3), torch.ones(2, 4, 5, dtype=torch.bool))
