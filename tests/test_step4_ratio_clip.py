"""Step 4: ratio = exp(logp - old_logp) and min(ratio * A, clip(ratio) * A), values and gradients;
DAPO's clip-higher and GSPO's sequence ratio."""

import numpy as np
import pytest
import torch

from minigrpo.grpo import (
    clip_fraction,
    clipped_surrogate,
    gspo_surrogate,
    masked_completion_mean,
    probability_ratio,
    sequence_ratio,
)

EPS = 0.2


def numpy_surrogate(logp, old_logp, adv, eps, eps_high=None):
    ratio = np.exp(logp - old_logp)
    high = eps if eps_high is None else eps_high
    return np.minimum(ratio * adv, np.clip(ratio, 1 - eps, 1 + high) * adv)


def test_matches_numpy_for_both_signs_of_the_advantage():
    rng = np.random.default_rng(0)
    logp, old_logp = rng.normal(-2, 0.5, size=(2, 3, 5)), rng.normal(-2, 0.5, size=(2, 3, 5))
    adv = rng.normal(size=(2, 3, 5))
    got = clipped_surrogate(*(torch.tensor(x) for x in (logp, old_logp, adv)), EPS).numpy()
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
    out = clipped_surrogate(logp, old_logp, torch.tensor([adv], dtype=torch.float64), EPS)
    out.sum().backward()
    assert out.item() == pytest.approx(value)
    # d/d logp = d/d ratio * ratio
    assert logp.grad.item() == pytest.approx(grad * ratio)


def test_at_ratio_one_the_gradient_is_the_policy_gradient():
    # ratio = 1 at the first inner step, yet d/d logp of surrogate = A (= A * grad log pi by the chain rule)
    logp = torch.tensor([-0.3, -2.0, -1.1], dtype=torch.float64, requires_grad=True)
    adv = torch.tensor([1.5, -0.7, 0.0], dtype=torch.float64)
    out = clipped_surrogate(logp, logp.detach(), adv, EPS)
    out.sum().backward()
    torch.testing.assert_close(out, adv)  # the value is A: ratio 1
    torch.testing.assert_close(logp.grad, adv)


def test_clip_fraction_counts_tokens_whose_gradient_is_removed():
    ratio = torch.tensor([[[1.5, 0.5, 1.1, 0.5, 1.5, 3.0]]], dtype=torch.float64)
    adv = torch.tensor([[[1.0, 1.0, 1.0, -1.0, -1.0, 1.0]]], dtype=torch.float64)
    mask = torch.tensor([[[True, True, True, True, True, False]]])  # the last is padding
    old_logp = torch.zeros_like(ratio)
    assert clip_fraction(ratio.log(), old_logp, adv, mask, EPS) == pytest.approx(2 / 5)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="shapes must match"):
        clipped_surrogate(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.zeros(2, 3), EPS)


# DAPO clip-higher: clip(ratio, 1 - eps_low, 1 + eps_high)

EPS_HIGH = 0.28


def test_asymmetric_clip_matches_numpy_and_none_means_symmetric():
    rng = np.random.default_rng(1)
    logp, old_logp = rng.normal(-2, 0.5, size=(2, 3, 5)), rng.normal(-2, 0.5, size=(2, 3, 5))
    adv = rng.normal(size=(2, 3, 5))
    tensors = [torch.tensor(x) for x in (logp, old_logp, adv)]
    got = clipped_surrogate(*tensors, EPS, clip_eps_high=EPS_HIGH).numpy()
    np.testing.assert_allclose(got, numpy_surrogate(logp, old_logp, adv, EPS, EPS_HIGH), rtol=1e-12)
    assert torch.equal(clipped_surrogate(*tensors, EPS), clipped_surrogate(*tensors, EPS, clip_eps_high=EPS))


# (ratio, advantage, value, d surrogate / d ratio) with eps_low = 0.2, eps_high = 0.28, by hand
HIGHER_CASES = [
    (1.25, 1.0, 1.25, 1.0),  # A > 0, above 1 + eps_low but below 1 + eps_high: still learns
    (1.4, 1.0, 1.28, 0.0),   # A > 0, above 1 + eps_high: clipped there
    (0.75, -1.0, -0.8, 0.0),  # A < 0: the lower bound is unchanged, 1 - eps_low
]


@pytest.mark.parametrize("ratio, adv, value, grad", HIGHER_CASES)
def test_clip_higher_moves_only_the_upper_bound(ratio, adv, value, grad):
    old_logp = torch.tensor([-1.0], dtype=torch.float64)
    logp = (old_logp + np.log(ratio)).requires_grad_()
    out = clipped_surrogate(logp, old_logp, torch.tensor([adv], dtype=torch.float64), EPS, clip_eps_high=EPS_HIGH)
    out.sum().backward()
    assert out.item() == pytest.approx(value)
    assert logp.grad.item() == pytest.approx(grad * ratio)


def test_clip_fraction_uses_the_upper_bound_for_positive_advantages():
    ratio = torch.tensor([[[1.25, 1.4, 0.75, 0.85]]], dtype=torch.float64)
    adv = torch.tensor([[[1.0, 1.0, -1.0, -1.0]]], dtype=torch.float64)
    mask = torch.ones(1, 1, 4, dtype=torch.bool)
    old_logp = torch.zeros_like(ratio)
    assert clip_fraction(ratio.log(), old_logp, adv, mask, EPS) == pytest.approx(3 / 4)
    assert clip_fraction(ratio.log(), old_logp, adv, mask, EPS, clip_eps_high=EPS_HIGH) == pytest.approx(2 / 4)


# GSPO: s_i = exp(1/|o_i| sum_t (logp - old_logp)), clipped once per completion

GSPO_EPS, GSPO_EPS_HIGH = 3e-4, 4e-4  # the paper's clip range


def random_completions(seed, B=2, G=3, T=6):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, T + 1, size=(B, G))
    mask = np.arange(T) < lengths[..., None]
    old_logp = rng.normal(-1.5, 0.5, size=(B, G, T))
    logp = old_logp + rng.normal(0, 3e-4, size=(B, G, T))
    adv = np.repeat(rng.normal(size=(B, G, 1)), T, axis=-1)
    return logp, old_logp, adv, mask


def numpy_gspo(logp, old_logp, adv, mask, eps, eps_high):
    """Per completion: s_i = prod_t ratio_t ** (1/|o_i|), then min(s A, clip(s) A); on its tokens."""
    s = np.zeros_like(logp)
    value = np.zeros_like(logp)
    B, G, _ = logp.shape
    for b in range(B):
        for i in range(G):
            tokens = mask[b, i]
            s_i = np.prod(np.exp(logp[b, i, tokens] - old_logp[b, i, tokens])) ** (1 / tokens.sum())
            a_i = adv[b, i, 0]
            s[b, i, tokens] = s_i
            value[b, i, tokens] = min(s_i * a_i, np.clip(s_i, 1 - eps, 1 + eps_high) * a_i)
    return s, value


@pytest.mark.parametrize("seed", range(3))
def test_sequence_ratio_and_gspo_surrogate_match_numpy(seed):
    logp, old_logp, adv, mask = random_completions(seed)
    tensors = [torch.tensor(x) for x in (logp, old_logp, adv, mask)]
    expected_s, expected_value = numpy_gspo(logp, old_logp, adv, mask, GSPO_EPS, GSPO_EPS_HIGH)
    np.testing.assert_allclose(sequence_ratio(tensors[0], tensors[1], tensors[3]).numpy(), expected_s, rtol=1e-12)
    got = gspo_surrogate(*tensors, GSPO_EPS, clip_eps_high=GSPO_EPS_HIGH).numpy()
    np.testing.assert_allclose(got, expected_value, rtol=1e-12)


def test_gspo_gradient_is_zero_exactly_for_clipped_completions():
    # four completions of three tokens, mean log-ratios chosen so s_i is known: eps = 0.2
    log_s = np.log([1.5, 1.1, 0.5, 1.5])
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64).view(1, 4, 1).expand(1, 4, 3)
    old_logp = torch.full((1, 4, 3), -1.0, dtype=torch.float64)
    offsets = torch.tensor([0.3, -0.1, -0.2], dtype=torch.float64)  # token log-ratios vary, their mean is 0
    logp = (old_logp + torch.tensor(log_s).view(1, 4, 1) + offsets).requires_grad_()
    mask = torch.ones(1, 4, 3, dtype=torch.bool)
    per_completion = masked_completion_mean(gspo_surrogate(logp, old_logp, adv, mask, EPS), mask)
    per_completion.sum().backward()
    torch.testing.assert_close(per_completion, torch.tensor([[1.2, 1.1, -0.8, -1.5]], dtype=torch.float64))
    # clipped (s > 1+eps with A > 0, s < 1-eps with A < 0): every token's gradient is exactly 0
    assert (logp.grad[0, [0, 2]] == 0).all()
    # unclipped: d/d logp_t of s_i A_i is s_i A_i / |o_i|, the same for every token of o_i
    torch.testing.assert_close(logp.grad[0, 1], torch.full((3,), 1.1 / 3, dtype=torch.float64))
    torch.testing.assert_close(logp.grad[0, 3], torch.full((3,), -1.5 / 3, dtype=torch.float64))


def test_gspo_padding_never_changes_the_value_or_the_gradient():
    logp, old_logp, adv, mask = (torch.tensor(x) for x in random_completions(0))
    results = []
    for garbage in (0.0, 123.0, torch.inf, torch.nan):
        noisy = [torch.where(mask, x, garbage) for x in (logp, old_logp, adv)]
        noisy[0] = noisy[0].clone().requires_grad_()
        value = gspo_surrogate(*noisy, mask, GSPO_EPS, clip_eps_high=GSPO_EPS_HIGH)
        value.sum().backward()
        results.append((value.detach(), noisy[0].grad))
    for value, grad in results[1:]:
        assert torch.equal(value, results[0][0]) and torch.equal(grad, results[0][1])
    assert (results[0][0][~mask] == 0).all() and (results[0][1][~mask] == 0).all()


def test_sequence_clip_fraction_counts_every_token_of_a_clipped_completion():
    # s = 1.5 (A > 0, clipped), 1.1 (inside), 0.5 (A < 0, clipped), 1.5 (A < 0: not clipped) with eps = 0.2
    log_s = torch.tensor(np.log([1.5, 1.1, 0.5, 1.5])).view(1, 4, 1)
    offsets = torch.tensor([0.3, -0.1, -0.2], dtype=torch.float64)  # token ratios vary; only their mean counts
    old_logp = torch.zeros(1, 4, 3, dtype=torch.float64)
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64).view(1, 4, 1).expand(1, 4, 3)
    mask = torch.tensor([[[True, True, True], [True, True, True], [True, False, False], [True, True, True]]])
    logp = old_logp + log_s + offsets  # completion 2 has one real token: s = 0.5 e^0.3 = 0.67, still below 0.8
    assert clip_fraction(logp, old_logp, adv, mask, EPS, ratio_level="sequence") == pytest.approx(4 / 10)
    with pytest.raises(ValueError, match="ratio_level must be one of"):
        clip_fraction(logp, old_logp, adv, mask, EPS, ratio_level="completion")
