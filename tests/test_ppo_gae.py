"""GAE: advantages and returns against a brute-force discounted sum over hand-made sequences."""

import numpy as np
import pytest
import torch

from minigrpo.ppo import gae, whiten


def brute_force_gae(rewards, values, length, gamma, lam):
    """A_t = sum_l (gamma lam)^l delta_{t+l}, delta_t = r_t + gamma V_{t+1} - V_t, V past the end = 0."""
    T = len(rewards)
    v = [values[t] if t < length else 0.0 for t in range(T)] + [0.0]
    deltas = [rewards[t] + gamma * v[t + 1] - v[t] if t < length else 0.0 for t in range(T)]
    adv = np.zeros(T)
    for t in range(length):
        adv[t] = sum((gamma * lam) ** (s - t) * deltas[s] for s in range(t, length))
    returns = np.array([adv[t] + v[t] if t < length else 0.0 for t in range(T)])
    return adv, returns


@pytest.mark.parametrize("gamma, lam", [(1.0, 0.95), (1.0, 0.0), (1.0, 1.0), (0.9, 0.5), (0.99, 1.0)])
def test_matches_the_brute_force_sum_with_padding(gamma, lam):
    rng = np.random.default_rng(0)
    N, T = 6, 7
    lengths = rng.integers(1, T + 1, size=N)
    rewards, values = rng.normal(size=(N, T)), rng.normal(size=(N, T))
    mask = np.arange(T) < lengths[:, None]
    adv, returns = gae(torch.tensor(rewards), torch.tensor(values), torch.tensor(mask), gamma, lam)
    for n in range(N):
        expected_adv, expected_returns = brute_force_gae(rewards[n], values[n], lengths[n], gamma, lam)
        np.testing.assert_allclose(adv[n].numpy(), expected_adv, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(returns[n].numpy(), expected_returns, rtol=1e-12, atol=1e-12)


def test_lambda_zero_is_one_step_td_and_lambda_one_is_return_minus_value():
    rewards = torch.tensor([[0.0, -0.1, 1.0, 0.0]], dtype=torch.float64)  # last token is padding
    values = torch.tensor([[0.5, 0.2, 0.8, 99.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True, True, False]])
    td, _ = gae(rewards, values, mask, gamma=1.0, lam=0.0)
    torch.testing.assert_close(td, torch.tensor([[0 + 0.2 - 0.5, -0.1 + 0.8 - 0.2, 1.0 + 0 - 0.8, 0.0]],
                                                dtype=torch.float64))
    mc, returns = gae(rewards, values, mask, gamma=1.0, lam=1.0)
    reward_to_go = torch.tensor([[0.9, 0.9, 1.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(mc, reward_to_go - values * mask)
    torch.testing.assert_close(returns, reward_to_go)  # lambda = 1: the critic regresses on the true return


def test_padding_values_and_rewards_do_not_leak():
    rewards = torch.tensor([[0.0, 1.0, 0.0, 0.0]])
    values = torch.tensor([[0.3, 0.6, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False, False]])
    a = gae(rewards, values, mask, 1.0, 0.95)
    b = gae(torch.where(mask, rewards, 7.0), torch.where(mask, values, -5.0), mask, 1.0, 0.95)
    for x, y in zip(a, b):
        assert torch.equal(x, y)


def test_whiten_uses_real_tokens_only():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True, True, False]])
    expected = (np.array([1.0, 2.0, 3.0]) - 2.0) / np.std([1.0, 2.0, 3.0], ddof=1)
    np.testing.assert_allclose(whiten(x, mask)[0, :3].numpy(), expected, rtol=1e-6)
    assert whiten(x, mask)[0, 3] == 0
    uncentered = np.array([1.0, 2.0, 3.0]) / np.std([1.0, 2.0, 3.0], ddof=1)  # VinePPO's scale: signs kept
    np.testing.assert_allclose(whiten(x, mask, center=False)[0, :3].numpy(), uncentered, rtol=1e-6)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="must match"):
        gae(torch.zeros(2, 3), torch.zeros(2, 4), torch.ones(2, 3, dtype=torch.bool), 1.0, 0.95)
