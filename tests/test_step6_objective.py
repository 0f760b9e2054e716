"""Step 6, DeepSeekMath Eq. 3 assembled from steps 4 and 5:
1/G sum_i 1/|o_i| sum_t [surrogate - beta * KL], averaged over prompts, against float64 numpy."""

import numpy as np
import pytest
import torch

from minigrpo.grpo import clipped_surrogate, grpo_objective, kl_k3, probability_ratio

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
    """Log-probs and advantages that are 0 on padding, as group_logprobs and the advantage steps give them."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, T + 1, size=(B, G))
    mask = np.arange(T) < lengths[..., None]
    logp = rng.normal(-1.5, 0.5, size=(B, G, T))
    old_logp = logp + rng.normal(0, 0.3, size=(B, G, T))
    ref_logp = logp + rng.normal(0, 0.3, size=(B, G, T))
    adv = rng.normal(size=(B, G, T))
    return *(np.where(mask, x, 0.0) for x in (logp, old_logp, ref_logp, adv)), mask


def objective(logp, old_logp, ref_logp, adv, mask, beta=BETA, eps=EPS):
    """Steps 4, 5 and 6 as the trainer chains them."""
    surrogate = clipped_surrogate(probability_ratio(logp, old_logp), adv, eps)
    return grpo_objective(surrogate, kl_k3(logp, ref_logp), mask, beta)


@pytest.mark.parametrize("seed", range(4))
def test_matches_eq3_in_numpy(seed):
    logp, old_logp, ref_logp, adv, mask = random_batch(seed)
    got = objective(*(torch.tensor(x) for x in (logp, old_logp, ref_logp, adv, mask)))
    assert got.item() == pytest.approx(numpy_eq3(logp, old_logp, ref_logp, adv, mask, BETA, EPS), rel=1e-12)


def test_padding_never_changes_the_value_or_the_gradient():
    # surrogate and KL values on padding (0 from the zeroed log-probs, or anything else) never count
    logp, old_logp, ref_logp, adv, mask = (torch.tensor(x) for x in random_batch(0))
    results = []
    for garbage in (0.0, 123.0, torch.inf, torch.nan):
        surrogate = clipped_surrogate(probability_ratio(logp, old_logp), adv, EPS)
        surrogate = torch.where(mask, surrogate, garbage).requires_grad_()
        kl = torch.where(mask, kl_k3(logp, ref_logp), garbage).requires_grad_()
        value = grpo_objective(surrogate, kl, mask, BETA)
        value.backward()
        results.append((value.detach(), surrogate.grad, kl.grad))
    for value, *grads in results[1:]:
        assert torch.equal(value, results[0][0])
        assert all(torch.equal(g, g0) for g, g0 in zip(grads, results[0][1:]))
    assert (results[0][1][~mask] == 0).all() and (results[0][2][~mask] == 0).all()


def test_gradient_at_ratio_one_is_advantage_over_length_and_group_count():
    # first inner step: old = current and no KL, so dJ/dlogp_{i,t} = A_{i,t} / (|o_i| * B * G) while J = mean A
    logp, _, _, adv, mask = random_batch(1)
    logp = torch.tensor(logp, requires_grad=True)
    value = objective(logp, logp.detach(), logp.detach(), torch.tensor(adv), torch.tensor(mask), beta=0.0)
    value.backward()
    B, G, _ = mask.shape
    expected = adv * mask / (mask.sum(-1, keepdims=True) * B * G)
    np.testing.assert_allclose(logp.grad.numpy(), expected, rtol=1e-12)
    per_completion_mean = (adv * mask).sum(-1) / mask.sum(-1)
    assert value.item() == pytest.approx(per_completion_mean.mean(), rel=1e-12)


def test_kl_term_pulls_toward_the_reference():
    # with A = 0 only the KL acts; its gradient on logp is beta * (exp(ref - logp) - 1) / (|o| B G)
    logp, _, ref_logp, _, mask = random_batch(2)
    logp_t = torch.tensor(logp, requires_grad=True)
    no_advantage = torch.zeros(logp.shape, dtype=torch.float64)
    value = objective(logp_t, logp_t.detach(), torch.tensor(ref_logp), no_advantage, torch.tensor(mask))
    value.backward()
    B, G, _ = mask.shape
    expected = -BETA * (1 - np.exp(ref_logp - logp)) * mask / (mask.sum(-1, keepdims=True) * B * G)
    np.testing.assert_allclose(logp_t.grad.numpy(), expected, rtol=1e-10)


def test_bad_input_is_refused():
    x = torch.zeros(1, 2, 3)
    with pytest.raises(ValueError, match="must match"):
        grpo_objective(x, x, torch.ones(1, 2, 4, dtype=torch.bool), BETA)
    with pytest.raises(ValueError, match="must match"):
        grpo_objective(x, torch.zeros(1, 2, 4), torch.ones(1, 2, 3, dtype=torch.bool), BETA)
