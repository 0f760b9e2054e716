"""Step 4: ratio = exp(logp - old_logp) and min(ratio * A, clip(ratio) * A), values and gradients."""

import numpy as np
import pytest
import torch

from minigrpo.grpo import clipped_surrogate, probability_ratio

EPS = 0.2


def numpy_surrogate(logp, old_logp, adv, eps):
    ratio = np.exp(logp - old_logp)
    return np.minimum(ratio * adv, np.clip(ratio, 1 - eps, 1 + eps) * adv)


def surrogate_of(logp, old_logp, adv, eps=EPS):
    return clipped_surrogate(probability_ratio(logp, old_logp), adv, eps)


def test_matches_numpy_for_both_signs_of_the_advantage():
    rng = np.random.default_rng(0)
    logp, old_logp = rng.normal(-2, 0.5, size=(2, 3, 5)), rng.normal(-2, 0.5, size=(2, 3, 5))
    adv = rng.normal(size=(2, 3, 5))
    got = surrogate_of(*(torch.tensor(x) for x in (logp, old_logp, adv))).numpy()
    np.testing.assert_allclose(got, numpy_surrogate(logp, old_logp, adv, EPS), rtol=1e-12)
    np.testing.assert_allclose(probability_ratio(torch.tensor(logp), torch.tensor(old_logp)).numpy(),
                               np.exp(logp - old_logp), rtol=1e-12)


# (ratio, advantage, surrogate value, d surrogate / d ratio), worked out by hand with eps = 0.2
CASES = [
    (1.5, 1.0, 1.2, 0.0),    # A > 0, ratio above 1 + eps: clipped, no gradient
    (0.5, 1.0, 0.5, 1.0),    # A > 0, ratio below 1 - eps: the min keeps the unclipped term
    (1.1, 1.0, 1.1, 1.0),    # inside the trust region
    (0.5, -1.0, -0.8, 0.0),  # A < 0, ratio below 1 - eps: clipped, no gradient
    (1.5, -1.0, -1.5, -1.0),  # A < 0, ratio above 1 + eps: the min keeps the (worse) unclipped term
    (0.9, -2.0, -1.8, -2.0),
]


@pytest.mark.parametrize("ratio, adv, value, grad", CASES)
def test_value_and_gradient_stop_exactly_where_clipped(ratio, adv, value, grad):
    old_logp = torch.tensor([-1.0], dtype=torch.float64)
    logp = (old_logp + np.log(ratio)).requires_grad_()
    out = surrogate_of(logp, old_logp, torch.tensor([adv], dtype=torch.float64))
    out.sum().backward()
    assert out.item() == pytest.approx(value)
    # d/d logp = d/d ratio * ratio
    assert logp.grad.item() == pytest.approx(grad * ratio)


def test_a_max_instead_of_the_min_would_differ_for_negative_advantages():
    # the published bug: max(ratio A, clip(ratio) A) lets a negative-advantage token that is already
    # much less likely (ratio 0.5) keep being pushed down; the min stops it at 1 - eps
    ratio, adv = torch.tensor([0.5], dtype=torch.float64), torch.tensor([-1.0], dtype=torch.float64)
    assert clipped_surrogate(ratio, adv, EPS).item() == pytest.approx(-0.8)
    assert torch.maximum(ratio * adv, torch.clamp(ratio, 0.8, 1.2) * adv).item() == pytest.approx(-0.5)


def test_at_ratio_one_the_gradient_is_the_policy_gradient():
    # ratio = 1 at the first inner step, yet d/d logp of surrogate = A (= A * grad log pi by the chain rule)
    logp = torch.tensor([-0.3, -2.0, -1.1], dtype=torch.float64, requires_grad=True)
    adv = torch.tensor([1.5, -0.7, 0.0], dtype=torch.float64)
    out = surrogate_of(logp, logp.detach(), adv)
    out.sum().backward()
    torch.testing.assert_close(out, adv)  # the value is A: ratio 1
    torch.testing.assert_close(logp.grad, adv)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="ratio .* and adv .* must match"):
        clipped_surrogate(torch.ones(2, 3, 4), torch.zeros(2, 3), EPS)
    with pytest.raises(ValueError, match="logp .* and old_logp .* must match"):
        probability_ratio(torch.zeros(2, 3, 4), torch.zeros(2, 3))
