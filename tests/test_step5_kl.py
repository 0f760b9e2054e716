"""Step 5: the k3 estimator exp(ref - logp) - (ref - logp) - 1 of KL(pi_theta || pi_ref)."""

import numpy as np
import pytest
import torch

from minigrpo.grpo import kl_k3


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
