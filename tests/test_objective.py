"""DeepSeekMath Eq. 3 assembled: 1/G sum_i 1/|o_i| sum_t [surrogate - beta * KL], mean over prompts;
the DAPO and Dr. GRPO token aggregations, checked against TRL's formulas."""

import numpy as np
import pytest
import torch

from minigrpo.grpo import aggregate_tokens, grpo_objective, masked_completion_mean

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


# Aggregation: "grpo" (1/|o_i| per completion), "dapo" (1 / all tokens), "dr_grpo" (1 / (N * max_len))

EPS_HIGH, MAX_LEN = 0.28, 10


def trl_loss(logp, old_logp, ref_logp, adv, mask, beta, eps_low, eps_high, loss_type, max_completion_length):
    """TRL GRPOTrainer._compute_loss, one process, one micro-batch: rows are the N = B*G completions.

    Written from its formulas: per_token_loss = -min(coef_1 A, coef_2 A) + beta * k3, the mask
    applied by multiplication, then loss_type picks the normalizer.
    """
    B, G, T = logp.shape
    logp, old_logp, ref_logp, adv = (x.reshape(B * G, T) for x in (logp, old_logp, ref_logp, adv))
    m = mask.reshape(B * G, T).astype(float)
    coef_1 = np.exp(logp - old_logp)
    coef_2 = np.clip(coef_1, 1 - eps_low, 1 + eps_high)
    kl = np.exp(ref_logp - logp) - (ref_logp - logp) - 1
    per_token_loss = -np.minimum(coef_1 * adv, coef_2 * adv) + beta * kl
    if loss_type == "grpo":
        return ((per_token_loss * m).sum(-1) / np.maximum(m.sum(-1), 1.0)).mean()
    if loss_type == "dapo":
        num_items_in_batch = m.sum()  # all completion tokens of the generation batch
        return (per_token_loss * m).sum() / num_items_in_batch
    if loss_type == "dr_grpo":
        return (per_token_loss * m).sum() / (per_token_loss.shape[0] * max_completion_length)
    raise ValueError(loss_type)


@pytest.mark.parametrize("how", ["grpo", "dapo", "dr_grpo"])
@pytest.mark.parametrize("seed", range(3))
def test_each_aggregation_is_minus_the_trl_loss_of_the_same_name(how, seed):
    logp, old_logp, ref_logp, adv, mask = random_batch(seed)  # T = 6 < MAX_LEN: the budget, not T
    got = grpo_objective(
        *(torch.tensor(x) for x in (logp, old_logp, ref_logp, adv, mask)), BETA, EPS,
        clip_eps_high=EPS_HIGH, aggregation=how, max_len=MAX_LEN,
    )
    expected = -trl_loss(logp, old_logp, ref_logp, adv, mask, BETA, EPS, EPS_HIGH, how, MAX_LEN)
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_aggregations_by_hand():
    x = torch.tensor([[[1.0, 2.0, 3.0], [4.0, 100.0, 100.0]]])
    mask = torch.tensor([[[True, True, True], [True, False, False]]])
    assert aggregate_tokens(x, mask, "grpo").item() == pytest.approx((2.0 + 4.0) / 2)
    assert aggregate_tokens(x, mask, "dapo").item() == pytest.approx((1 + 2 + 3 + 4) / 4)
    assert aggregate_tokens(x, mask, "dr_grpo", max_len=5).item() == pytest.approx((1 + 2 + 3 + 4) / (2 * 5))


def test_default_aggregation_is_grpo():
    logp, old_logp, ref_logp, adv, mask = (torch.tensor(x) for x in random_batch(3))
    default = grpo_objective(logp, old_logp, ref_logp, adv, mask, BETA, EPS)
    assert torch.equal(default, grpo_objective(logp, old_logp, ref_logp, adv, mask, BETA, EPS, aggregation="grpo"))


@pytest.mark.parametrize("how, weight", [("dapo", "total"), ("dr_grpo", "budget")])
def test_dapo_and_dr_grpo_give_every_token_the_same_weight(how, weight):
    # at ratio one without KL, dJ/dlogp_{i,t} = A_{i,t} / (sum_i |o_i|) or A_{i,t} / (N * max_len):
    # unlike "grpo", no 1/|o_i|, so a token of a long completion counts as much as one of a short one
    logp, _, _, adv, mask = random_batch(1)
    logp = torch.tensor(logp, requires_grad=True)
    value = grpo_objective(
        logp, logp.detach(), None, torch.tensor(adv), torch.tensor(mask), 0.0, EPS, aggregation=how, max_len=MAX_LEN
    )
    value.backward()
    B, G, _ = mask.shape
    divisor = mask.sum() if weight == "total" else B * G * MAX_LEN
    np.testing.assert_allclose(logp.grad.numpy(), adv * mask / divisor, rtol=1e-12)


@pytest.mark.parametrize("how", ["dapo", "dr_grpo"])
def test_padding_never_changes_the_token_aggregations(how):
    logp, old_logp, ref_logp, adv, mask = (torch.tensor(x) for x in random_batch(0))
    results = []
    for garbage in (0.0, torch.inf, torch.nan):
        noisy = [torch.where(mask, x, garbage) for x in (logp, old_logp, ref_logp, adv)]
        noisy[0] = noisy[0].clone().requires_grad_()
        value = grpo_objective(noisy[0], *noisy[1:], mask, BETA, EPS, aggregation=how, max_len=MAX_LEN)
        value.backward()
        results.append((value.detach(), noisy[0].grad))
    for value, grad in results[1:]:
        assert torch.equal(value, results[0][0]) and torch.equal(grad, results[0][1])


def test_bad_aggregation_is_refused():
    x, mask = torch.zeros(1, 2, 3), torch.ones(1, 2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="aggregation must be one of"):
        aggregate_tokens(x, mask, "token_mean")
    with pytest.raises(ValueError, match="dr_grpo needs max_len"):
        aggregate_tokens(x, mask, "dr_grpo")
    with pytest.raises(ValueError, match="dr_grpo needs max_len"):
        aggregate_tokens(x, mask, "dr_grpo", max_len=2)  # shorter than a completion


# GSPO through the objective: ratio_level="sequence", one clipped ratio s_i per completion

GSPO_EPS, GSPO_EPS_HIGH = 3e-4, 4e-4


def numpy_gspo_objective(logp, old_logp, ref_logp, adv, mask, beta, eps, eps_high):
    """GSPO Eq. 5 with s_i of Eq. 7, minus beta times the per-token k3 KL averaged like Eq. 3."""
    B, G, _ = logp.shape
    total = 0.0
    for b in range(B):
        for i in range(G):
            tokens = mask[b, i]
            s = np.exp(np.mean(logp[b, i, tokens] - old_logp[b, i, tokens]))
            a = adv[b, i, 0]
            d = ref_logp[b, i, tokens] - logp[b, i, tokens]
            total += min(s * a, np.clip(s, 1 - eps, 1 + eps_high) * a) - beta * np.mean(np.exp(d) - d - 1)
    return total / (B * G)


@pytest.mark.parametrize("seed", range(3))
def test_sequence_ratio_level_is_the_gspo_objective(seed):
    logp, _, ref_logp, adv, mask = random_batch(seed)
    rng = np.random.default_rng(seed + 10)
    old_logp = logp + rng.normal(0, 4e-4, size=logp.shape)  # s_i lands on both sides of the narrow clip
    adv = np.repeat(adv[..., :1], logp.shape[-1], axis=-1)  # one A_i per completion
    got = grpo_objective(
        *(torch.tensor(x) for x in (logp, old_logp, ref_logp, adv, mask)), BETA, GSPO_EPS,
        clip_eps_high=GSPO_EPS_HIGH, ratio_level="sequence",
    )
    expected = numpy_gspo_objective(logp, old_logp, ref_logp, adv, mask, BETA, GSPO_EPS, GSPO_EPS_HIGH)
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_at_ratio_one_sequence_and_token_ratios_give_the_same_gradient():
    # s_i = 1 and ratio_t = 1: both gradients are A_i / (|o_i| B G) on every token (why GSPO needs mu > 1 to differ)
    logp, _, _, adv, mask = random_batch(4)
    adv = torch.tensor(np.repeat(adv[..., :1], logp.shape[-1], axis=-1))
    grads = []
    for level in ("token", "sequence"):
        x = torch.tensor(logp, requires_grad=True)
        grpo_objective(x, x.detach(), None, adv, torch.tensor(mask), 0.0, EPS, ratio_level=level).backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=0)


def test_unknown_ratio_level_is_refused():
    x, mask = torch.zeros(1, 2, 3), torch.ones(1, 2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="ratio_level must be one of"):
        grpo_objective(x, x, None, x, mask, 0.0, EPS, ratio_level="completion")
