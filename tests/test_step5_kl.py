"""Step 5: the k3 estimator exp(ref - logp) - (ref - logp) - 1 of KL(pi_theta || pi_ref)."""

import numpy as np
import pytest
import torch

from minigrpo.grpo import k1_penalized_rewards, kl_k2, kl_k3, kl_k3_ratio


def test_matches_the_formula_in_numpy():
    rng = np.random.default_rng(0)
    logp, ref = rng.normal(-2, 1, size=(3, 4, 5)), rng.normal(-2, 1, size=(3, 4, 5))
    expected = np.exp(ref - logp) - (ref - logp) - 1  # pi_ref / pi_theta - log(pi_ref / pi_theta) - 1
    np.testing.assert_allclose(kl_k3(torch.tensor(logp), torch.tensor(ref)).numpy(), expected, rtol=1e-12)


def test_by_hand_and_direction():
    # pi_theta = 1/2, pi_ref = 1/4: ratio pi_ref / pi_theta = 1/2 -> 1/2 - log(1/2) - 1 = log 2 - 1/2
    got = kl_k3(torch.tensor([np.log(0.5)]), torch.tensor([np.log(0.25)])).item()
    assert got == pytest.approx(np.log(2) - 0.5)
    # swapping the arguments (the inverse-ratio bug) gives 2 - log 2 - 1, a different number
    assert kl_k3(torch.tensor([np.log(0.25)]), torch.tensor([np.log(0.5)])).item() == pytest.approx(1 - np.log(2))


def test_never_negative_and_zero_only_when_equal():
    logp = torch.linspace(-8, 0, 50, dtype=torch.float64)
    ref = logp.flip(0)
    assert (kl_k3(logp, ref) >= 0).all()
    assert torch.equal(kl_k3(logp, logp), torch.zeros_like(logp))


def test_unbiased_on_samples_from_pi_theta():
    # Two categorical distributions over 6 tokens; the k3 sample mean under pi_theta -> exact KL
    rng = np.random.default_rng(0)
    p_theta, p_ref = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))
    exact = float(np.sum(p_theta * np.log(p_theta / p_ref)))
    samples = rng.choice(6, size=400_000, p=p_theta)
    k3 = kl_k3(torch.tensor(np.log(p_theta[samples])), torch.tensor(np.log(p_ref[samples])))
    standard_error = k3.std().item() / len(samples) ** 0.5
    assert abs(k3.mean().item() - exact) < 4 * standard_error
    # and the exact expectation, summed over the 6 tokens, equals KL to float precision
    per_token = kl_k3(torch.tensor(np.log(p_theta)), torch.tensor(np.log(p_ref))).numpy()
    assert float(np.sum(p_theta * per_token)) == pytest.approx(exact, rel=1e-12)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="must match"):
        kl_k3(torch.zeros(2, 3), torch.zeros(3, 2))


# Expected gradients, exactly: a categorical pi_theta = softmax(theta) over 5 outcomes, pi_ref fixed. The loss
# differentiates the estimate at sampled tokens, the samples themselves fixed, so E_x~pi[grad f(x)] is
# sum_x pi(x) grad f(x) with pi(x) held constant: enumerate the outcomes. Each is compared with the gradient of
# an exact KL, computed by autograd from its definition.
def exact_expected_gradients(estimator):
    theta = torch.tensor([0.3, -1.2, 0.8, 0.0, -0.4], dtype=torch.float64, requires_grad=True)
    ref_logp = torch.log_softmax(torch.tensor([1.0, 0.2, -0.5, 0.3, -1.0], dtype=torch.float64), 0)
    logp = torch.log_softmax(theta, 0)  # log pi_theta(x) for every outcome x
    pi = logp.exp().detach()
    (pi * estimator(logp, logp.detach(), ref_logp)).sum().backward()
    expected = theta.grad.clone()
    theta.grad = None
    return theta, ref_logp, expected


def kl_gradient(theta, ref_logp, reverse: bool):
    """grad of KL(pi_theta || pi_ref) (reverse=True) or KL(pi_ref || pi_theta), from the definitions."""
    logp = torch.log_softmax(theta, 0)
    kl = (logp.exp() * (logp - ref_logp)).sum() if reverse else (ref_logp.exp() * (ref_logp - logp)).sum()
    (grad,) = torch.autograd.grad(kl, theta)
    return grad


@pytest.mark.parametrize("name, estimator, follows", [
    ("k1", lambda logp, old, ref: logp - ref, None),  # zero: k1 only works as a reward
    ("k2", lambda logp, old, ref: kl_k2(logp, ref), "reverse"),
    ("k3", lambda logp, old, ref: kl_k3(logp, ref), "forward"),
    ("rho k3", kl_k3_ratio, "reverse"),
])
def test_expected_gradient_of_each_estimator_is_the_gradient_of_its_kl(name, estimator, follows):
    theta, ref_logp, expected = exact_expected_gradients(estimator)
    if follows is None:
        torch.testing.assert_close(expected, torch.zeros_like(expected), rtol=0, atol=1e-15)
        return
    target = kl_gradient(theta, ref_logp, reverse=follows == "reverse")
    other = kl_gradient(theta, ref_logp, reverse=follows != "reverse")
    torch.testing.assert_close(expected, target, rtol=1e-12, atol=1e-15)
    assert (expected - other).abs().max() > 1e-3  # and not the other KL's: the two differ here


def test_k2_and_k3_ratio_by_hand():
    # pi_theta = 1/2, pi_ref = 1/4, pi_old = 1/3: k2 = 1/2 (log 2)^2; rho k3 = (1/2)/(1/3) * (log 2 - 1/2)
    logp, ref, old = torch.tensor([np.log(0.5)]), torch.tensor([np.log(0.25)]), torch.tensor([np.log(1 / 3)])
    assert kl_k2(logp, ref).item() == pytest.approx(0.5 * np.log(2) ** 2)
    assert kl_k3_ratio(logp, old, ref).item() == pytest.approx(1.5 * (np.log(2) - 0.5))
    assert kl_k3_ratio(logp, logp, ref).item() == pytest.approx(kl_k3(logp, ref).item())  # on-policy: rho = 1


def test_k1_penalized_rewards_by_hand():
    rewards = torch.tensor([[1.0, 0.0]])
    old = torch.log(torch.tensor([[[0.5, 0.5, 0.9], [0.2, 0.8, 0.7]]]))
    ref = torch.log(torch.tensor([[[0.25, 0.5, 0.1], [0.4, 0.8, 0.7]]]))
    mask = torch.tensor([[[True, True, False], [True, True, True]]])  # the first completion's 3rd token is padding
    got = k1_penalized_rewards(rewards, old, ref, mask, 0.1)
    expected = [1.0 - 0.1 * (np.log(2) + 0.0), 0.0 - 0.1 * (np.log(0.5) + 0.0 + 0.0)]
    np.testing.assert_allclose(got[0].numpy(), expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"rewards must have shape \[B, G\]"):
        k1_penalized_rewards(torch.zeros(2), old, ref, mask, 0.1)
