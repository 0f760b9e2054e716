"""The variants' equations (lab/variants/variants.py and masked.aggregate), each against an independent float64
computation: RLOO, batch and no std, several rewards and GDPO, clip-higher, GSPO, the DAPO and Dr. GRPO
aggregations, the KL estimators in the loss; and which switches make the lab's recipe leave the paper's step 3.
How each reaches the loop is tested in test_trainer_switches.py (iterative GRPO's reference reset there too)."""

import numpy as np
import pytest
import torch

from minigrpo.grpo import Group, clipped_surrogate, grpo_objective, kl_k3, probability_ratio
from minigrpo.lab.config import LabGRPOConfig
from minigrpo.lab.loop import recipe
from minigrpo.lab.scale import World
from minigrpo.lab.variants import variants
from minigrpo.lab.variants.variants import (
    advantages,
    clip_higher_surrogate,
    gdpo_advantages,
    objective,
    rescaled_advantages,
    sequence_ratio,
)
from minigrpo.masked import aggregate, completion_mean
from minigrpo.task import parse_problem

EPS, EPS_HIGH, BETA, MAX_LEN = 0.2, 0.28, 0.04, 10


def random_batch(seed, B=2, G=3, T=6):
    rng = np.random.default_rng(seed)
    mask = np.arange(T) < rng.integers(1, T + 1, size=(B, G))[..., None]
    logp = rng.normal(-1.5, 0.5, size=(B, G, T))
    old_logp = logp + rng.normal(0, 0.3, size=(B, G, T))
    ref_logp = logp + rng.normal(0, 0.3, size=(B, G, T))
    adv = rng.normal(size=(B, G, T))
    return *(np.where(mask, x, 0.0) for x in (logp, old_logp, ref_logp, adv)), mask


# Advantages: A_i = (r_i - b_i) / s, baseline "mean" | "leave_one_out", scale "group" | "batch" | "none".

COMBINATIONS = [(b, s) for b in ("mean", "leave_one_out") for s in ("group", "batch", "none")]


def numpy_variant_advantages(rewards, eps, baseline, scale):
    """Loops, written from the formulas."""
    B, G = rewards.shape
    adv = np.empty_like(rewards)
    for b in range(B):
        for i in range(G):
            others = [rewards[b, j] for j in range(G) if j != i]
            base = rewards[b].mean() if baseline == "mean" else sum(others) / (G - 1)
            adv[b, i] = rewards[b, i] - base
    if scale == "group":
        adv /= rewards.std(axis=1, ddof=1, keepdims=True) + eps
    elif scale == "batch":
        adv /= rewards.std(ddof=1) + eps
    return adv


@pytest.mark.parametrize("baseline, scale", COMBINATIONS)
def test_every_baseline_and_scale_matches_numpy(baseline, scale):
    rewards = np.random.default_rng(1).normal(size=(4, 5))
    got = rescaled_advantages(torch.tensor(rewards), 1e-4, baseline, scale).numpy()
    np.testing.assert_allclose(got, numpy_variant_advantages(rewards, 1e-4, baseline, scale), rtol=1e-12)


@pytest.mark.parametrize("baseline, scale", COMBINATIONS)
def test_zero_spread_gives_exactly_zero_and_no_nan_in_every_variant(baseline, scale):
    rewards = torch.tensor([[0.3] * 4, [0.0, 1.0, 0.0, 0.0]])
    adv = rescaled_advantages(rewards, 0.0, baseline, scale)
    assert torch.equal(adv[0], torch.zeros(4))
    assert torch.isfinite(adv).all() and adv[1].abs().sum() > 0
    # a batch with no spread at all: the batch std is 0 too, and eps = 0 cannot save it
    assert torch.equal(rescaled_advantages(torch.full((3, 4), 0.7), 0.0, baseline, scale), torch.zeros(3, 4))


def test_leave_one_out_is_the_mean_baseline_times_g_over_g_minus_1():
    # rewards 1, 0, 0, 1: r_1 - mean(0, 0, 1) = 2/3 and r_1 - mean(r) = 1/2, ratio G/(G-1) = 4/3
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    loo = rescaled_advantages(rewards, 1e-4, "leave_one_out", "none")
    torch.testing.assert_close(loo, torch.tensor([[2 / 3, -2 / 3, -2 / 3, 2 / 3]], dtype=torch.float64))
    torch.testing.assert_close(loo, 4 / 3 * rescaled_advantages(rewards, 1e-4, "mean", "none"))


def test_batch_scale_divides_every_group_by_one_std_by_hand():
    # all rewards 1, 0, 1, 1: mean 3/4, sample variance (3 * 1/16 + 9/16) / 3 = 1/4, std 1/2
    rewards = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    adv = rescaled_advantages(rewards, 0.0, "mean", "batch")
    torch.testing.assert_close(adv, torch.tensor([[1.0, -1.0], [0.0, 0.0]], dtype=torch.float64))


def test_no_scale_keeps_the_reward_units():
    # Dr. GRPO: r - mean(r), so a group with twice the spread gets twice the advantage
    adv = rescaled_advantages(torch.tensor([[0.0, 1.0], [0.0, 2.0]], dtype=torch.float64), 1e-4, "mean", "none")
    torch.testing.assert_close(adv, torch.tensor([[-0.5, 0.5], [-1.0, 1.0]], dtype=torch.float64))


def test_unknown_baseline_or_scale_is_refused():
    with pytest.raises(ValueError, match="baseline must be"):
        rescaled_advantages(torch.zeros(2, 3), 1e-4, "median", "group")
    with pytest.raises(ValueError, match="scale must be"):
        rescaled_advantages(torch.zeros(2, 3), 1e-4, "mean", "global")


# Several rewards: GRPO normalizes the weighted sum; GDPO normalizes each component, sums, divides by the batch.

def numpy_group_normalize(r, eps):
    out = (r - r.mean(axis=1, keepdims=True)) / (r.std(axis=1, ddof=1, keepdims=True) + eps)
    return np.where(r.std(axis=1, keepdims=True) > 0, out, 0.0)


def numpy_gdpo(rewards, weights, eps):
    """GDPO paper Eqs. 4, 7 and 6, literally (Eq. 6 with its batch mean)."""
    summed = sum(weights[k] * numpy_group_normalize(rewards[..., k], eps) for k in range(rewards.shape[-1]))
    return (summed - summed.mean()) / (summed.std(ddof=1) + eps)


def random_rewards(seed, B=4, G=5):
    rng = np.random.default_rng(seed)
    correct = rng.integers(0, 2, size=(B, G)).astype(float)
    correct[:, 0], correct[:, 1] = 0.0, 1.0  # every group has spread in this component
    return np.stack([correct, rng.uniform(-1, 0, size=(B, G))], axis=-1), np.array([1.0, 0.5])


@pytest.mark.parametrize("seed", range(3))
def test_gdpo_matches_the_paper_equations_in_numpy(seed):
    rewards, weights = random_rewards(seed)
    got = gdpo_advantages(torch.tensor(rewards), torch.tensor(weights)).numpy()
    # the batch mean in Eq. 6 is zero up to rounding, so only that much may differ
    np.testing.assert_allclose(got, numpy_gdpo(rewards, weights, 1e-4), rtol=1e-12, atol=1e-14)


def test_gdpo_tells_apart_groups_that_summing_collapses():
    # G = 2, components (correct, format), weights 1: group 0 totals (0, 1), group 1 totals (0, 2)
    rewards = torch.tensor([[[0.0, 0.0], [1.0, 0.0]], [[0.0, 0.0], [1.0, 1.0]]], dtype=torch.float64)
    weights = torch.ones(2, dtype=torch.float64)
    summed = rescaled_advantages(rewards.sum(-1), 0.0, "mean", "group")
    torch.testing.assert_close(summed[0], summed[1])  # both (-1/sqrt(2), 1/sqrt(2)): "both right" = "one right"
    gdpo = gdpo_advantages(rewards, weights, eps=0.0)
    # before the batch step: (-1/sqrt2, 1/sqrt2) and (-sqrt2, sqrt2); batch sample std sqrt(5/3)
    expected = torch.tensor([[-0.3**0.5, 0.3**0.5], [-1.2**0.5, 1.2**0.5]], dtype=torch.float64)
    torch.testing.assert_close(gdpo, expected)


def test_gdpo_keeps_signal_when_the_totals_tie():
    # G = 3: correct (1, 1, 0) and format (0, 0, 1) give totals (1, 1, 1), which the sum zeroes
    rewards = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    summed = rescaled_advantages(rewards.sum(-1), 1e-4, "mean", "group")
    assert torch.equal(summed, torch.zeros(1, 3, dtype=torch.float64))
    gdpo = gdpo_advantages(rewards, torch.tensor([2.0, 1.0], dtype=torch.float64))  # correctness counts more
    assert gdpo[0, 0] == gdpo[0, 1] > 0 > gdpo[0, 2]


def test_a_group_with_no_spread_in_any_component_gets_exactly_zero():
    rewards, weights = (torch.tensor(x) for x in random_rewards(0))
    rewards[2] = torch.tensor([1.0, -0.3])  # every completion of prompt 2 scores the same on both
    gdpo = gdpo_advantages(rewards, weights)
    assert torch.equal(gdpo[2], torch.zeros(5, dtype=torch.float64)) and gdpo[0].abs().sum() > 0
    assert torch.equal(gdpo_advantages(torch.ones(3, 4, 2), torch.ones(2), eps=0.0), torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"\[B, G, K\] and weights \[K\]"):
        gdpo_advantages(torch.zeros(2, 3, 2), torch.ones(3))


def group_of(problem: str, texts: list[str]) -> Group:
    """A hand-made group of one prompt: only what step 2 reads (problems, texts, the mask's device)."""
    mask = torch.ones(1, len(texts), 1, dtype=torch.bool)
    return Group([parse_problem(problem)], mask, mask, mask, mask, mask.double(), [texts])


@pytest.mark.parametrize("norm", ["sum", "gdpo"])
def test_advantages_score_and_weigh_the_named_components(norm):
    # 2+3: right and well formed; right with a rambling tail (not well formed, too long); wrong; unparseable
    texts = ["2+3=5;#5", "2+3=5;#5;;;;;;;;", "2+3=6;#6", "??"]
    cfg = LabGRPOConfig(reward_weights={"correct": 1.0, "format": 0.5, "length": 0.25}, multi_reward_norm=norm)
    correct = torch.tensor([[1.0, 0.0, 0.0, 0.0]])  # as step 2 scores them: "#5;;;" is not a final answer
    got = advantages(group_of("2+3", texts), correct, cfg).numpy()
    components = np.array([[[1, 1, 0], [0, 0, -1], [0, 1, 0], [0, 0, 0]]], dtype=float)  # by hand
    weights = np.array([1.0, 0.5, 0.25])
    if norm == "sum":
        expected = numpy_group_normalize((components * weights).sum(-1), 1e-4)
    else:
        summed = sum(w * numpy_group_normalize(components[..., k], 1e-4) for k, w in enumerate(weights))
        expected = summed / (summed.std(ddof=1) + 1e-4)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize("switch", [
    {}, {"reward_weights": {"correct": 1}}, {"adv_eps": 0.3}, {"baseline": "leave_one_out"}, {"adv_scale": "batch"},
    {"adv_scale": "none"}, {"reward_weights": {"correct": 1.0, "format": 0.5}}, {"multi_reward_norm": "gdpo"},
    {"reward_weights": {"correct": 2.0}}, {"kl_estimator": "k1_reward"},
])
def test_only_a_switch_makes_the_recipe_replace_step_3(monkeypatch, switch):
    """The recipe's step 3 is the paper's group normalization unless a switch changes the advantages; then it is
    ``variants.advantages``, and either way each completion's A_i is broadcast to its tokens."""
    calls = []
    monkeypatch.setattr(variants, "advantages", lambda *args: calls.append(args) or advantages(*args))
    cfg = LabGRPOConfig(**switch)
    group = group_of("2+3", ["2+3=5;#5", "2+3=6;#6", "2+3=5;#5;;;", "??"])
    rewards, ref_logp = torch.tensor([[1.0, 0.0, 1.0, 0.0]]), torch.full((1, 4, 1), -0.5, dtype=torch.float64)
    scores, adv = recipe(cfg, World()).advantages(None, group, rewards, ref_logp, None)
    changed = switch not in ({}, {"reward_weights": {"correct": 1}}, {"adv_eps": 0.3})
    assert len(calls) == int(changed) and scores is rewards
    if changed:
        expected = advantages(group, rewards, cfg, ref_logp)
    else:  # step 3 by hand: rewards 1, 0, 1, 0 have mean 1/2 and sample std sqrt(1/3)
        expected = torch.tensor([[0.5, -0.5, 0.5, -0.5]]) / (3 ** -0.5 + cfg.adv_eps)
    torch.testing.assert_close(adv, expected[..., None].to(adv.dtype))


# The ratio and the clip: DAPO's clip-higher and GSPO's one ratio per completion.

def test_clip_higher_matches_numpy_and_equal_bounds_are_step_4():
    rng = np.random.default_rng(1)
    ratio, adv = np.exp(rng.normal(0, 0.3, size=(2, 3, 5))), rng.normal(size=(2, 3, 5))
    got = clip_higher_surrogate(torch.tensor(ratio), torch.tensor(adv), EPS, EPS_HIGH).numpy()
    np.testing.assert_allclose(got, np.minimum(ratio * adv, np.clip(ratio, 1 - EPS, 1 + EPS_HIGH) * adv), rtol=1e-12)
    r, a = torch.tensor(ratio), torch.tensor(adv)
    assert torch.equal(clip_higher_surrogate(r, a, EPS, EPS), clipped_surrogate(r, a, EPS))


# (ratio, advantage, value, d surrogate / d ratio) with eps_low = 0.2, eps_high = 0.28, by hand
HIGHER_CASES = [
    (1.25, 1.0, 1.25, 1.0),  # A > 0, above 1 + eps_low but below 1 + eps_high: still learns
    (1.4, 1.0, 1.28, 0.0),   # A > 0, above 1 + eps_high: clipped there
    (0.75, -1.0, -0.8, 0.0),  # A < 0: the lower bound is unchanged, 1 - eps_low
]


@pytest.mark.parametrize("ratio, adv, value, grad", HIGHER_CASES)
def test_clip_higher_moves_only_the_upper_bound(ratio, adv, value, grad):
    ratio_t = torch.tensor([ratio], dtype=torch.float64, requires_grad=True)
    out = clip_higher_surrogate(ratio_t, torch.tensor([adv], dtype=torch.float64), EPS, EPS_HIGH)
    out.sum().backward()
    assert out.item() == pytest.approx(value) and ratio_t.grad.item() == pytest.approx(grad)


GSPO_EPS, GSPO_EPS_HIGH = 3e-4, 4e-4  # the paper's clip range


def numpy_gspo(logp, old_logp, adv, mask, eps, eps_high):
    """Per completion: s_i = prod_t ratio_t ** (1/|o_i|), then min(s A, clip(s) A), on its tokens."""
    s, value = np.zeros_like(logp), np.zeros_like(logp)
    B, G, _ = logp.shape
    for b in range(B):
        for i in range(G):
            tokens = mask[b, i]
            s_i = np.prod(np.exp(logp[b, i, tokens] - old_logp[b, i, tokens])) ** (1 / tokens.sum())
            s[b, i, tokens] = s_i
            value[b, i, tokens] = min(s_i * adv[b, i, 0], np.clip(s_i, 1 - eps, 1 + eps_high) * adv[b, i, 0])
    return s, value


@pytest.mark.parametrize("seed", range(3))
def test_sequence_ratio_and_its_clipped_surrogate_match_numpy(seed):
    logp, _, _, adv, mask = random_batch(seed)
    old_logp = np.where(mask, logp + np.random.default_rng(seed).normal(0, 3e-4, size=logp.shape), 0.0)
    adv = np.where(mask, adv[..., :1], 0.0)  # one A_i per completion
    expected_s, expected_value = numpy_gspo(logp, old_logp, adv, mask, GSPO_EPS, GSPO_EPS_HIGH)
    s = sequence_ratio(torch.tensor(logp), torch.tensor(old_logp), torch.tensor(mask))
    np.testing.assert_allclose(s.numpy(), expected_s, rtol=1e-12)
    got = clip_higher_surrogate(s, torch.tensor(adv), GSPO_EPS, GSPO_EPS_HIGH)
    np.testing.assert_allclose(got.numpy(), expected_value, rtol=1e-12)


def test_gspo_gradient_is_zero_exactly_for_clipped_completions():
    # four completions of three tokens, mean log-ratios chosen so s_i is known: eps = 0.2
    log_s = np.log([1.5, 1.1, 0.5, 1.5])
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64).view(1, 4, 1).expand(1, 4, 3)
    old_logp = torch.full((1, 4, 3), -1.0, dtype=torch.float64)
    offsets = torch.tensor([0.3, -0.1, -0.2], dtype=torch.float64)  # token log-ratios vary, their mean is 0
    logp = (old_logp + torch.tensor(log_s).view(1, 4, 1) + offsets).requires_grad_()
    mask = torch.ones(1, 4, 3, dtype=torch.bool)
    per_completion = completion_mean(clipped_surrogate(sequence_ratio(logp, old_logp, mask), adv, EPS), mask)
    per_completion.sum().backward()
    torch.testing.assert_close(per_completion, torch.tensor([[1.2, 1.1, -0.8, -1.5]], dtype=torch.float64))
    assert (logp.grad[0, [0, 2]] == 0).all()  # clipped: s > 1+eps with A > 0, s < 1-eps with A < 0
    # unclipped: d/d logp_t of s_i A_i is s_i A_i / |o_i|, the same for every token of o_i
    torch.testing.assert_close(logp.grad[0, 1], torch.full((3,), 1.1 / 3, dtype=torch.float64))
    torch.testing.assert_close(logp.grad[0, 3], torch.full((3,), -1.5 / 3, dtype=torch.float64))


def test_at_ratio_one_sequence_and_token_ratios_give_the_same_gradient():
    # s_i = 1 and ratio_t = 1: both gradients are A_i / (|o_i| B G) on every token (why GSPO needs mu > 1 to differ)
    logp, _, _, adv, mask = random_batch(4)
    adv, mask = torch.tensor(np.where(mask, adv[..., :1], 0.0)), torch.tensor(mask)
    grads = []
    for ratio_of in (probability_ratio, lambda x, old: sequence_ratio(x, old, mask)):
        x = torch.tensor(logp, requires_grad=True)
        surrogate = clipped_surrogate(ratio_of(x, x.detach()), adv, EPS)
        grpo_objective(surrogate, torch.zeros_like(surrogate), mask, 0.0).backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=0)


# How tokens are averaged: minus TRL's GRPOTrainer loss of the same loss_type.

def trl_loss(logp, old_logp, ref_logp, adv, mask, beta, eps_low, eps_high, loss_type, max_completion_length,
             use_bias_correction_kl=False):
    """TRL GRPOTrainer._compute_loss, one process, one micro-batch: rows are the N = B*G completions.

    Written from its formulas: per_token_loss = -min(coef_1 A, coef_2 A) + beta * k3 (times coef_1 with
    ``use_bias_correction_kl``, TRL's default), the mask applied by multiplication, then loss_type picks
    the normalizer.
    """
    B, G, T = logp.shape
    logp, old_logp, ref_logp, adv = (x.reshape(B * G, T) for x in (logp, old_logp, ref_logp, adv))
    m = mask.reshape(B * G, T).astype(float)
    coef_1 = np.exp(logp - old_logp)
    coef_2 = np.clip(coef_1, 1 - eps_low, 1 + eps_high)
    kl = np.exp(ref_logp - logp) - (ref_logp - logp) - 1
    if use_bias_correction_kl:
        kl = kl * coef_1
    per_token_loss = -np.minimum(coef_1 * adv, coef_2 * adv) + beta * kl
    if loss_type == "grpo":
        return ((per_token_loss * m).sum(-1) / np.maximum(m.sum(-1), 1.0)).mean()
    if loss_type == "dapo":
        return (per_token_loss * m).sum() / m.sum()  # num_items_in_batch: every completion token
    return (per_token_loss * m).sum() / (per_token_loss.shape[0] * max_completion_length)  # dr_grpo


@pytest.mark.parametrize("how", ["grpo", "dapo", "dr_grpo"])
@pytest.mark.parametrize("seed", range(3))
def test_each_aggregation_is_minus_the_trl_loss_of_the_same_name(how, seed):
    """The one aggregation (masked.aggregate) under the lab's objective, and the paper's step 6 for "grpo"."""
    logp, old_logp, ref_logp, adv, mask = random_batch(seed)  # T = 6 < MAX_LEN: the budget, not T
    t = [torch.tensor(x) for x in (logp, old_logp, ref_logp, adv, mask)]
    surrogate = clip_higher_surrogate(probability_ratio(t[0], t[1]), t[3], EPS, EPS_HIGH)
    kl = kl_k3(t[0], t[2])
    expected = -trl_loss(logp, old_logp, ref_logp, adv, mask, BETA, EPS, EPS_HIGH, how, MAX_LEN)
    cfg = LabGRPOConfig(aggregation=how, kl_coef=BETA, max_new_tokens=MAX_LEN, clip_eps=EPS, clip_eps_high=EPS_HIGH)
    assert objective(surrogate, t[0], t[1], t[2], t[4], cfg).item() == pytest.approx(expected, rel=1e-12)
    assert aggregate(surrogate - BETA * kl, t[4], how, MAX_LEN).item() == pytest.approx(expected, rel=1e-12)
    if how == "grpo":
        assert grpo_objective(surrogate, kl, t[4], BETA).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("how", ["grpo", "dapo", "dr_grpo"])
@pytest.mark.parametrize("estimator, bias_correction", [("k3", False), ("k3_ratio", True)])
def test_the_kl_estimator_matches_trls_use_bias_correction_kl_in_loss_and_gradient(how, estimator, bias_correction):
    logp, old_logp, ref_logp, adv, mask = random_batch(7)
    cfg = LabGRPOConfig(kl_estimator=estimator, aggregation=how, kl_coef=BETA, max_new_tokens=MAX_LEN)
    theta = torch.tensor(logp, requires_grad=True)
    old, ref, a, m = (torch.tensor(x) for x in (old_logp, ref_logp, adv, mask))
    got = objective(clipped_surrogate(probability_ratio(theta, old), a, cfg.clip_eps), theta, old, ref, m, cfg)
    got.backward()

    def trl(x):
        return -trl_loss(x, old_logp, ref_logp, adv, mask, BETA, cfg.clip_eps, cfg.clip_eps, how, MAX_LEN,
                         bias_correction)

    assert got.item() == pytest.approx(trl(logp), rel=1e-12)
    h, numeric = 1e-6, np.zeros_like(logp)  # central differences of TRL's loss, one log-prob at a time
    for index in np.ndindex(logp.shape):
        up, down = logp.copy(), logp.copy()
        up[index] += h
        down[index] -= h
        numeric[index] = (trl(up) - trl(down)) / (2 * h)
    np.testing.assert_allclose(theta.grad.numpy(), numeric, atol=1e-8)


def test_aggregations_by_hand():
    x = torch.tensor([[[1.0, 2.0, 3.0], [4.0, 100.0, 100.0]]])  # 100: padding, which no average may see
    mask = torch.tensor([[[True, True, True], [True, False, False]]])
    zero = torch.zeros_like(x)
    assert grpo_objective(x, zero, mask, BETA).item() == pytest.approx((2.0 + 4.0) / 2)
    assert aggregate(x, mask, "grpo").item() == pytest.approx((2.0 + 4.0) / 2)  # mean of the completions' means
    assert aggregate(x, mask, "dapo", 5).item() == pytest.approx((1 + 2 + 3 + 4) / 4)  # of the real tokens
    assert aggregate(x, mask, "dr_grpo", 5).item() == pytest.approx((1 + 2 + 3 + 4) / (2 * 5))  # N L_max


@pytest.mark.parametrize("how, weight", [("dapo", "total"), ("dr_grpo", "budget")])
def test_dapo_and_dr_grpo_give_every_token_the_same_weight(how, weight):
    # at ratio one without KL, dJ/dlogp_{i,t} = A_{i,t} / (sum_i |o_i|) or A_{i,t} / (N * max_len):
    # unlike "grpo", no 1/|o_i|, so a token of a long completion counts as much as one of a short one
    logp, _, _, adv, mask = random_batch(1)
    logp = torch.tensor(logp, requires_grad=True)
    surrogate = clipped_surrogate(probability_ratio(logp, logp.detach()), torch.tensor(adv), EPS)
    aggregate(surrogate, torch.tensor(mask), how, MAX_LEN).backward()
    B, G, _ = mask.shape
    divisor = mask.sum() if weight == "total" else B * G * MAX_LEN
    np.testing.assert_allclose(logp.grad.numpy(), adv * mask / divisor, rtol=1e-12)


def test_bad_aggregation_is_refused():
    x, mask = torch.zeros(1, 2, 3), torch.ones(1, 2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="how must be"):
        aggregate(x, mask, "token_mean", 5)
    with pytest.raises(ValueError, match="dr_grpo needs max_len"):
        aggregate(x, mask, "dr_grpo", 2)  # shorter than a completion
    with pytest.raises(ValueError, match="dr_grpo needs max_len"):
        aggregate(x, mask, "dr_grpo")  # no budget given


def test_random_rewards_are_bernoulli_p_whatever_the_rewards():
    from minigrpo.lab.variants.variants import random_rewards

    drawn = random_rewards(torch.zeros(400, 50), 0.3, torch.Generator().manual_seed(0))
    assert set(drawn.unique().tolist()) == {0.0, 1.0}
    assert abs(drawn.mean().item() - 0.3) < 4 * (0.3 * 0.7 / drawn.numel()) ** 0.5  # within 4 standard errors
    again = random_rewards(torch.ones(400, 50), 0.3, torch.Generator().manual_seed(0))
    assert torch.equal(drawn, again)  # the completions' rewards play no part
    assert not random_rewards(torch.ones(3, 4), 0.0).any()
    with pytest.raises(ValueError):
        random_rewards(torch.ones(3, 4), 1.5)

