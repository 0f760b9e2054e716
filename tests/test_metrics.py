"""What both loops log: the clip fraction against its definition, and the step record by hand."""

import pytest
import torch

from minigrpo.grpo import clipped_surrogate
from minigrpo.lab.variants.variants import clip_higher_surrogate, sequence_ratio
from minigrpo.metrics import clip_fraction, step_metrics

EPS = 0.2


def test_clip_fraction_counts_tokens_whose_gradient_the_clip_removes():
    # the definition: ratio > 1 + eps with A > 0, or ratio < 1 - eps with A < 0; the last token is padding
    ratio = torch.tensor([[[1.5, 0.5, 1.1, 0.5, 1.5, 3.0]]], dtype=torch.float64, requires_grad=True)
    adv = torch.tensor([[[1.0, 1.0, 1.0, -1.0, -1.0, 1.0]]], dtype=torch.float64)
    mask = torch.tensor([[[True, True, True, True, True, False]]])
    surrogate = clipped_surrogate(ratio, adv, EPS)
    assert clip_fraction(ratio.detach(), adv, surrogate.detach(), mask) == pytest.approx(2 / 5)
    # and these are exactly the real tokens autograd gives no gradient
    surrogate.sum().backward()
    no_gradient = (ratio.grad == 0) & mask
    assert no_gradient.sum().item() / mask.sum().item() == pytest.approx(2 / 5)


def test_clip_fraction_follows_the_upper_bound_of_clip_higher():
    ratio = torch.tensor([[[1.25, 1.4, 0.75, 0.85]]], dtype=torch.float64)
    adv = torch.tensor([[[1.0, 1.0, -1.0, -1.0]]], dtype=torch.float64)
    mask = torch.ones(1, 1, 4, dtype=torch.bool)
    assert clip_fraction(ratio, adv, clipped_surrogate(ratio, adv, EPS), mask) == pytest.approx(3 / 4)
    higher = clip_higher_surrogate(ratio, adv, EPS, 0.28)
    assert clip_fraction(ratio, adv, higher, mask) == pytest.approx(2 / 4)


def test_clip_fraction_of_sequence_ratios_counts_every_token_of_a_clipped_completion():
    # s = 1.5 (A > 0, clipped), 1.1 (inside), 0.5 e^0.3 (A < 0, clipped), 1.5 (A < 0: not clipped)
    log_s = torch.tensor([1.5, 1.1, 0.5, 1.5], dtype=torch.float64).log().view(1, 4, 1)
    offsets = torch.tensor([0.3, -0.1, -0.2], dtype=torch.float64)  # token ratios vary; only their mean counts
    mask = torch.tensor([[[True, True, True], [True, True, True], [True, False, False], [True, True, True]]])
    logp, old_logp = torch.where(mask, log_s + offsets, 0.0), torch.zeros(1, 4, 3, dtype=torch.float64)
    adv = torch.where(mask, torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64).view(1, 4, 1), 0.0)
    s = sequence_ratio(logp, old_logp, mask)
    assert clip_fraction(s, adv, clipped_surrogate(s, adv, EPS), mask) == pytest.approx(4 / 10)


def test_step_metrics_by_hand():
    rewards = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    mask = torch.tensor([[[True, True], [True, False]], [[True, True], [True, True]]])
    kl = torch.tensor([[[0.1, 0.3], [0.5, 9.0]], [[0.0, 0.0], [0.2, 0.2]]])
    adv = torch.tensor([[[0.7, 0.7], [-0.7, 5.0]], [[0.0, 0.0], [0.0, 0.0]]])  # the second group has no spread
    record = step_metrics(rewards, adv, mask, kl, [0.0, 0.5], torch.tensor(0.25), torch.tensor(3.0))
    assert record == pytest.approx({
        "reward_mean": 0.75,
        "reward_std": (2**-0.5 + 0.0) / 2,  # sample std of (1, 0), then of (1, 1)
        "zero_spread_frac": 0.5,
        "adv_nonzero_frac": 3 / 7,  # 7 real tokens, 3 with an advantage; padding's 5.0 never counts
        "adv_abs_mean": 3 * 0.7 / 7,
        "kl": (0.2 + 0.5 + 0.0 + 0.2) / 4,  # per completion, then over the batch; padding's 9.0 never counts
        "clip_frac": 0.25,
        "completion_len": 7 / 4,
        "loss": -0.25,
        "grad_norm": 3.0,
    })
    entropy = torch.tensor([[[1.0, 2.0], [3.0, 99.0]], [[0.5, 0.5], [1.5, 2.5]]])
    with_entropy = step_metrics(rewards, adv, mask, kl, [0.0], torch.tensor(0.0), torch.tensor(1.0), entropy)
    assert with_entropy["entropy"] == pytest.approx((1.5 + 3.0 + 0.5 + 2.0) / 4)  # per completion, then the batch
