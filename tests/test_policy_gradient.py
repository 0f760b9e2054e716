"""The plain policy gradient (REINFORCE), J_pg = 1/(BG) sum_i 1/|o_i| sum_t (r_i - b_i) logp_{i,t}: value, gradient."""

import itertools

import numpy as np
import pytest
import torch

from minigrpo.grpo import broadcast_to_tokens, clipped_surrogate, grpo_objective, probability_ratio
from minigrpo.policy_gradient import BASELINES, policy_gradient_objective, reinforce_advantages


def numpy_baseline(rewards, baseline):
    G = rewards.shape[1]
    if baseline == "none":
        return np.zeros_like(rewards)
    if baseline == "mean":
        return np.repeat(rewards.mean(1, keepdims=True), G, axis=1)
    return np.array([[(row.sum() - x) / (G - 1) for x in row] for row in rewards])  # the others' mean


def batch(seed=0, B=2, G=3, T=4):
    rng = np.random.default_rng(seed)
    logp = rng.normal(-2, 0.5, size=(B, G, T))
    rewards = rng.normal(size=(B, G))
    lengths = rng.integers(1, T + 1, size=(B, G))
    mask = np.arange(T) < lengths[..., None]
    return logp, rewards, mask


@pytest.mark.parametrize("baseline", BASELINES)
def test_value_and_gradient_match_numpy(baseline):
    logp, rewards, mask = batch()
    B, G, _ = logp.shape
    adv = rewards - numpy_baseline(rewards, baseline)
    lengths = mask.sum(-1)
    value = np.mean(adv * np.where(mask, logp, 0).sum(-1) / lengths)
    grad = np.where(mask, (adv / lengths)[..., None] / (B * G), 0.0)  # d value / d logp_{i,t}

    x = torch.tensor(logp, requires_grad=True)
    out = policy_gradient_objective(x, torch.tensor(rewards), torch.tensor(mask), baseline)
    out.backward()
    assert out.item() == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-12, atol=1e-15)


def test_baselines_by_hand():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(reinforce_advantages(rewards, "none"), rewards)
    torch.testing.assert_close(reinforce_advantages(rewards, "mean"),
                               torch.tensor([[0.75, -0.25, -0.25, -0.25]], dtype=torch.float64))
    torch.testing.assert_close(reinforce_advantages(rewards, "leave_one_out"),
                               torch.tensor([[1.0, -1 / 3, -1 / 3, -1 / 3]], dtype=torch.float64))


def test_a_group_with_equal_rewards_gets_exactly_zero_with_a_baseline():
    rewards = torch.full((1, 8), 0.7)  # a mean of 0.7s is not exactly 0.7 in float
    for baseline in ("mean", "leave_one_out"):
        assert (reinforce_advantages(rewards, baseline) == 0).all()


# A one-token bandit: K answers with fixed rewards, pi = softmax(theta). The exact expected gradient of the estimator
# over a group of G answers is a sum over all K^G groups, each weighted by its probability.
R = torch.tensor([1.0, 0.6, 0.3, -0.2], dtype=torch.float64)
THETA = torch.tensor([0.3, -0.5, 0.8, 0.1], dtype=torch.float64)


def exact_policy_gradient(theta):
    """d/d theta of J = sum_a pi(a) r(a), by hand: pi(a) (r(a) - J)."""
    pi = torch.softmax(theta, 0)
    return pi * (R - (pi * R).sum())


def expected_estimate(baseline, G=3, shift=0.0):
    pi = torch.softmax(THETA, 0)
    total = torch.zeros_like(THETA)
    for group in itertools.product(range(len(R)), repeat=G):
        answers = torch.tensor([group])
        theta = THETA.clone().requires_grad_()
        logp = torch.log_softmax(theta, 0)[answers][..., None]  # [B = 1, G, T = 1]
        objective = policy_gradient_objective(logp, R[answers] + shift, torch.ones_like(logp, dtype=torch.bool),
                                              baseline)
        objective.backward()
        total += pi[answers].prod() * theta.grad
    return total


def test_without_a_baseline_the_expected_estimate_is_the_exact_gradient():
    torch.testing.assert_close(expected_estimate("none"), exact_policy_gradient(THETA), rtol=1e-10, atol=1e-14)


def test_a_leave_one_out_baseline_does_not_change_the_expected_gradient():
    torch.testing.assert_close(expected_estimate("leave_one_out"), expected_estimate("none"), rtol=1e-10, atol=1e-14)


def test_a_constant_baseline_does_not_change_the_expected_gradient():
    # subtracting b from every reward adds -b sum_a pi(a) grad log pi(a) = -b grad sum_a pi(a) = 0
    torch.testing.assert_close(expected_estimate("none", shift=-5.0), expected_estimate("none"), rtol=1e-10,
                               atol=1e-14)


def test_the_group_mean_baseline_scales_the_expected_gradient_by_g_minus_1_over_g():
    # r_i is part of its own baseline: r_i - mean(r) = (G - 1)/G (r_i - mean of the others)
    for G in (2, 3):
        torch.testing.assert_close(expected_estimate("mean", G=G), (G - 1) / G * exact_policy_gradient(THETA),
                                   rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("baseline", ["mean", "leave_one_out"])
def test_with_a_baseline_a_constant_added_to_the_rewards_changes_nothing(baseline):
    logp, rewards, mask = (torch.tensor(x) for x in batch(seed=1))
    grads = []
    for shift in (0.0, 10.0):
        x = logp.clone().requires_grad_()
        policy_gradient_objective(x, rewards + shift, mask, baseline).backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-12)


def test_without_a_baseline_a_constant_added_to_the_rewards_changes_the_estimate():
    logp, rewards, mask = (torch.tensor(x) for x in batch(seed=1))
    grads = []
    for shift in (0.0, 10.0):
        x = logp.clone().requires_grad_()
        policy_gradient_objective(x, rewards + shift, mask, "none").backward()
        grads.append(x.grad)
    assert not torch.allclose(grads[0], grads[1])


@pytest.mark.parametrize("baseline", BASELINES)
def test_at_ratio_one_its_gradient_is_the_clipped_surrogates(baseline):
    # the mu = 1 trap: pi_theta = pi_old, every ratio is 1, the clip does nothing, and step 4 + step 6 with
    # A = r - b give exactly this objective's gradient (their values differ: mean A against (r - b) logp)
    logp, rewards, mask = (torch.tensor(x) for x in batch(seed=2))
    x = logp.clone().requires_grad_()
    adv = broadcast_to_tokens(reinforce_advantages(rewards, baseline), mask)
    surrogate = clipped_surrogate(probability_ratio(x, x.detach()), adv, clip_eps=0.2)
    grpo_objective(surrogate, torch.zeros_like(surrogate), mask, kl_coef=0.0).backward()
    y = logp.clone().requires_grad_()
    policy_gradient_objective(y, rewards, mask, baseline).backward()
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-12, atol=1e-15)


def test_padding_never_counts_even_when_it_holds_nan():
    logp, rewards, mask = (torch.tensor(x) for x in batch(seed=3))
    padded = torch.where(mask, logp, torch.nan).requires_grad_()
    clean = logp.clone().requires_grad_()
    a = policy_gradient_objective(padded, rewards, mask, "mean")
    b = policy_gradient_objective(clean, rewards, mask, "mean")
    a.backward()
    b.backward()
    assert a.item() == b.item()
    torch.testing.assert_close(padded.grad, clean.grad)
    assert (padded.grad[~mask] == 0).all()


def test_bad_inputs_are_refused_with_clear_errors():
    logp, rewards, mask = (torch.tensor(x) for x in batch())
    with pytest.raises(ValueError, match="baseline must be one of"):
        policy_gradient_objective(logp, rewards, mask, "group")
    with pytest.raises(ValueError, match=r"logp must have shape \[B, G, T\]"):
        policy_gradient_objective(logp[0], rewards, mask, "none")
    with pytest.raises(ValueError, match="must match"):
        policy_gradient_objective(logp, rewards[:, :2], mask, "none")
    with pytest.raises(ValueError, match="must match"):
        policy_gradient_objective(logp, rewards, mask[..., :2], "none")
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        policy_gradient_objective(logp, rewards, mask.double(), "none")
    with pytest.raises(ValueError, match="prefix"):
        policy_gradient_objective(logp, rewards, ~mask, "none")
    with pytest.raises(ValueError, match="logp contains NaN or inf on a real"):
        policy_gradient_objective(torch.where(mask, torch.nan, logp), rewards, mask, "none")
    with pytest.raises(ValueError, match="rewards contains NaN"):
        policy_gradient_objective(logp, torch.full_like(rewards, torch.inf), mask, "mean")
    with pytest.raises(ValueError, match="G >= 2"):
        reinforce_advantages(rewards[:, :1], "leave_one_out")
