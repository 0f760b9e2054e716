"""Means over real tokens: padding never counts, even when it holds inf or NaN."""

import pytest
import torch

from minigrpo.masked import completion_mean, token_mean

X = torch.tensor([[[1.0, 2.0, 3.0], [4.0, torch.nan, torch.inf]]])
MASK = torch.tensor([[[True, True, True], [True, False, False]]])


def test_completion_mean_averages_each_completion_over_its_own_tokens():
    assert torch.equal(completion_mean(X, MASK), torch.tensor([[2.0, 4.0]]))


def test_token_mean_weighs_every_real_token_the_same():
    assert token_mean(X, MASK).item() == pytest.approx((1 + 2 + 3 + 4) / 4)


def test_padding_gets_no_gradient_and_leaks_no_nan():
    x = X.clone().requires_grad_()
    (completion_mean(x, MASK).sum() + token_mean(x, MASK)).backward()
    expected = torch.tensor([[[1 / 3 + 1 / 4] * 3, [1 + 1 / 4, 0.0, 0.0]]])
    torch.testing.assert_close(x.grad, expected)


def test_a_completion_with_no_tokens_averages_to_zero_not_nan():
    assert torch.equal(completion_mean(torch.ones(1, 2), torch.tensor([[False, False]])), torch.tensor([0.0]))


def test_shapes_must_match():
    with pytest.raises(ValueError, match="must match"):
        completion_mean(torch.zeros(2, 3), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="must match"):
        token_mean(torch.zeros(2, 3), torch.ones(3, dtype=torch.bool))


def test_whiten_ignores_nan_padding_in_its_value_and_its_gradient():
    from minigrpo.masked import whiten

    x = X.double().requires_grad_()
    whitened = whiten(x, MASK)
    real = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    torch.testing.assert_close(whitened[MASK], (real - real.mean()) / (real.std() + 1e-8))
    assert (whitened[~MASK] == 0).all()
    (whitened * torch.arange(6.0, dtype=torch.float64).view(1, 2, 3)).sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad[~MASK] == 0).all()  # 0 * NaN would be NaN on every token


def test_masks_must_be_bool_and_whiten_needs_two_real_tokens():
    from minigrpo.masked import whiten

    with pytest.raises(TypeError, match="bool tensor"):
        completion_mean(X, MASK.float())
    with pytest.raises(ValueError, match="at least two real tokens"):
        whiten(X, torch.tensor([[[True, False, False], [False, False, False]]]))
