"""DeepSeekMath Eq. 3 assembled: 1/G sum_i 1/|o_i| sum_t [surrogate - beta * KL], mean over prompts."""

import numpy as np
import pytest
import torch

from minigrpo.grpo import grpo_objective, masked_completion_mean

EPS, BETA = 0.2, 0.04


def numpy_eq3(logp, old_logp, ref_logp, adv, mask, beta, eps):
    B, G, T = logp.shape
    total = 0.0
    for b in range(B):
        for i in range(G):
            tokens = [t for t in range(T) if mask[b, i, t]]
            per_token = []
            for t in tokens:
                ratio = np.exp(logp[b, i, t] - old_logp[b, i, t])
                surrogate = min(ratio * adv[b, i, t], np.clip(ratio, 1 - eps, 1 + eps) * adv[b, i, t])
                d = ref_logp[b, i, t] - logp[b, i, t]
                per_token.append(surrogate - beta * (np.exp(d) - d - 1))
            total += sum(per_token) / len(tokens)
    return total / (B * G)


def random_batch(seed, B=2, G=3, T=6):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, T + 1, size=(B, G))
    mask = np.arange(T) < lengths[..., None]
    logp = rng.normal(-1.5, 0.5, size=(B, G, T))
    old_logp = logp + rng.normal(0, 0.3, size=(B, G, T))
    ref_logp = logp + rng.normal(0, 0.3, size=(B, G, T))
    adv = rng.normal(size=(B, G, T))
    return logp, old_logp, ref_logp, adv, mask


@pytest.mark.parametrize("seed", range(4))
def test_matches_eq3_in_numpy(seed):
    logp, old_logp, ref_logp, adv, mask = random_batch(seed)
    got = grpo_objective(*(torch.tensor(x) for x in (logp, old_logp, ref_logp, adv, mask)), BETA, EPS)
    assert got.item() == pytest.approx(numpy_eq3(logp, old_logp, ref_logp, adv, mask, BETA, EPS), rel=1e-12)


def test_padding_never_changes_the_value_or_the_gradient():
    logp, old_logp, ref_logp, adv, mask = (torch.tensor(x) for x in random_batch(0))
    results = []
    for garbage in (0.0, 123.0, torch.inf, torch.nan):
        noisy = [torch.where(mask, x, garbage) for x in (logp, old_logp, ref_logp, adv)]
        noisy[0] = noisy[0].clone().requires_grad_()
        value = grpo_objective(noisy[0], *noisy[1:], mask, BETA, EPS)
        value.backward()
        results.append((value.detach(), noisy[0].grad))
    for value, grad in results[1:]:
        assert torch.equal(value, results[0][0]) and torch.equal(grad, results[0][1])
    assert (results[0][1][~mask] == 0).all()


def test_gradient_at_ratio_one_is_advantage_over_length_and_group_count():
    # first inner step: old = current and no KL, so dJ/dlogp_{i,t} = A_{i,t} / (|o_i| * B * G)
    logp, _, _, adv, mask = random_batch(1)
    logp = torch.tensor(logp, requires_grad=True)
    value = grpo_objective(logp, logp.detach(), None, torch.tensor(adv), torch.tensor(mask), 0.0, EPS)
    value.backward()
    B, G, _ = mask.shape
    expected = adv * mask / (mask.sum(-1, keepdims=True) * B * G)
    np.testing.assert_allclose(logp.grad.numpy(), expected, rtol=1e-12)


def test_kl_term_pulls_toward_the_reference():
    # with A = 0 only the KL acts; its gradient on logp is beta * (exp(ref - logp) - 1) / (|o| B G)
    logp, _, ref_logp, _, mask = random_batch(2)
    logp_t = torch.tensor(logp, requires_grad=True)
    no_advantage = torch.zeros(logp.shape, dtype=torch.float64)
    value = grpo_objective(logp_t, logp_t.detach(), torch.tensor(ref_logp), no_advantage, torch.tensor(mask), BETA, EPS)
    value.backward()
    B, G, _ = mask.shape
    expected = -BETA * (1 - np.exp(ref_logp - logp)) * mask / (mask.sum(-1, keepdims=True) * B * G)
    np.testing.assert_allclose(logp_t.grad.numpy(), expected, rtol=1e-10)


def test_masked_completion_mean_by_hand():
    x = torch.tensor([[[1.0, 2.0, 3.0], [4.0, 100.0, 100.0]]])
    mask = torch.tensor([[[True, True, True], [True, False, False]]])
    assert torch.equal(masked_completion_mean(x, mask), torch.tensor([[2.0, 4.0]]))


def test_bad_input_is_refused():
    x = torch.zeros(1, 2, 3)
    with pytest.raises(ValueError, match="mask"):
        grpo_objective(x, x, x, x, torch.ones(1, 2, 4, dtype=torch.bool), BETA, EPS)
    with pytest.raises(ValueError, match="needs ref_logp"):
        grpo_objective(x, x, None, x, torch.ones(1, 2, 3, dtype=torch.bool), BETA, EPS)
