"""Several reward components: GRPO on the weighted sum vs GDPO (normalize each, sum, batch std), vs numpy."""

import numpy as np
import pytest
import torch

from minigrpo.grpo import combined_advantages, gdpo_advantages, group_advantages


def numpy_group_normalize(r: np.ndarray, eps: float) -> np.ndarray:
    """[B, G] -> [B, G]: (r - group mean) / (group sample std + eps)."""
    return (r - r.mean(axis=1, keepdims=True)) / (r.std(axis=1, ddof=1, keepdims=True) + eps)


def numpy_gdpo(rewards: np.ndarray, weights: np.ndarray, eps: float) -> np.ndarray:
    """GDPO paper Eqs. 4, 7 and 6, literally (Eq. 6 with its batch mean)."""
    B, G, K = rewards.shape
    summed = np.zeros((B, G))
    for k in range(K):
        summed += weights[k] * numpy_group_normalize(rewards[..., k], eps)
    return (summed - summed.mean()) / (summed.std(ddof=1) + eps)


def random_rewards(seed, B=4, G=5):
    rng = np.random.default_rng(seed)
    correct = rng.integers(0, 2, size=(B, G)).astype(float)
    correct[:, 0], correct[:, 1] = 0.0, 1.0  # every group has spread in this component
    length = rng.uniform(-1, 0, size=(B, G))
    return np.stack([correct, length], axis=-1), np.array([1.0, 0.5])


@pytest.mark.parametrize("seed", range(3))
def test_combined_advantages_normalize_the_weighted_sum(seed):
    rewards, weights = random_rewards(seed)
    got = combined_advantages(torch.tensor(rewards), torch.tensor(weights)).numpy()
    np.testing.assert_allclose(got, numpy_group_normalize((rewards * weights).sum(-1), 1e-4), rtol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_gdpo_matches_the_paper_equations_in_numpy(seed):
    rewards, weights = random_rewards(seed)
    got = gdpo_advantages(torch.tensor(rewards), torch.tensor(weights)).numpy()
    # the batch mean in Eq. 6 is zero up to rounding, so only that much may differ
    np.testing.assert_allclose(got, numpy_gdpo(rewards, weights, 1e-4), rtol=1e-12, atol=1e-14)


def test_gdpo_tells_apart_groups_that_grpo_collapses():
    # G = 2, components (correct, format), weights 1: group 0 totals (0, 1), group 1 totals (0, 2)
    rewards = torch.tensor(
        [[[0.0, 0.0], [1.0, 0.0]],
         [[0.0, 0.0], [1.0, 1.0]]], dtype=torch.float64,
    )
    weights = torch.ones(2, dtype=torch.float64)
    grpo = combined_advantages(rewards, weights, eps=0.0)
    torch.testing.assert_close(grpo[0], grpo[1])  # both (-1/sqrt(2), 1/sqrt(2)): "both right" counts as "one right"
    gdpo = gdpo_advantages(rewards, weights, eps=0.0)
    # before the batch step: (-1/sqrt2, 1/sqrt2) and (-sqrt2, sqrt2); batch sample std sqrt(5/3)
    expected = torch.tensor([[-0.3**0.5, 0.3**0.5], [-1.2**0.5, 1.2**0.5]], dtype=torch.float64)
    torch.testing.assert_close(gdpo, expected)
    torch.testing.assert_close(gdpo[1], 2 * gdpo[0])


def test_gdpo_keeps_signal_when_the_totals_tie():
    # G = 3: correct (1, 1, 0) and format (0, 0, 1) give totals (1, 1, 1), which GRPO zeroes
    rewards = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    weights = torch.tensor([2.0, 1.0], dtype=torch.float64)  # correctness counts more
    assert torch.equal(combined_advantages(rewards, torch.ones(2, dtype=torch.float64)), torch.zeros(1, 3))
    gdpo = gdpo_advantages(rewards, weights)
    assert gdpo[0, 0] == gdpo[0, 1] > 0 > gdpo[0, 2]


def test_a_group_with_no_spread_in_any_component_gets_exactly_zero():
    rewards, weights = (torch.tensor(x) for x in random_rewards(0))
    rewards[2] = torch.tensor([1.0, -0.3])  # every completion of prompt 2 scores the same on both
    for advantages in (combined_advantages(rewards, weights), gdpo_advantages(rewards, weights)):
        assert torch.equal(advantages[2], torch.zeros(5, dtype=torch.float64))
        assert torch.isfinite(advantages).all() and advantages[0].abs().sum() > 0
    flat = gdpo_advantages(torch.ones(3, 4, 2), torch.ones(2), eps=0.0)  # no spread in the whole batch
    assert torch.equal(flat, torch.zeros(3, 4))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\[B, G, K\] and weights \[K\]"):
        gdpo_advantages(torch.zeros(2, 3, 2), torch.ones(3))
    with pytest.raises(ValueError, match=r"\[B, G, K\]"):
        combined_advantages(torch.zeros(2, 3), torch.ones(3))


@pytest.mark.parametrize("baseline, scale", [("leave_one_out", "group"), ("mean", "batch"), ("mean", "none")])
def test_combined_advantages_pass_step_3_variants_on_to_the_weighted_sum(baseline, scale):
    rewards, weights = random_rewards(1)
    r = (rewards * weights).sum(-1)
    G = r.shape[1]
    base = r.mean(1, keepdims=True) if baseline == "mean" else (r.sum(1, keepdims=True) - r) / (G - 1)
    divisor = {"group": r.std(1, ddof=1, keepdims=True) + 1e-4, "batch": r.std(ddof=1) + 1e-4, "none": 1.0}[scale]
    got = combined_advantages(torch.tensor(rewards), torch.tensor(weights), baseline=baseline, scale=scale).numpy()
    np.testing.assert_allclose(got, (r - base) / divisor, rtol=1e-12)


def test_one_component_of_weight_one_is_exactly_step_3():
    # the default run (reward_weights="correct=1", multi_reward_norm="sum") must not change a bit
    rewards = torch.randint(0, 2, (6, 8), generator=torch.Generator().manual_seed(0)).float()
    assert torch.equal(combined_advantages(rewards[..., None], torch.ones(1)), group_advantages(rewards))
