"""PPO's critic: the clipped value loss, the KL-in-the-reward form, and a critic that learns."""

import numpy as np
import pytest
import torch

from minigrpo.grpo import sample_group
from minigrpo.ppo import ValueModel, clipped_value_loss, completion_values, explained_variance, kl_penalized_rewards
from minigrpo.task import parse_problem


def test_clipped_value_loss_matches_its_formula():
    rng = np.random.default_rng(0)
    B, G, T = 2, 3, 5
    values, old_values, returns = (rng.normal(size=(B, G, T)) for _ in range(3))
    lengths = rng.integers(1, T + 1, size=(B, G))
    mask = np.arange(T) < lengths[..., None]
    eps = 0.2
    clipped = old_values + np.clip(values - old_values, -eps, eps)
    per_token = 0.5 * np.maximum((values - returns) ** 2, (clipped - returns) ** 2)
    expected = np.mean([per_token[b, g, : lengths[b, g]].mean() for b in range(B) for g in range(G)])
    got = clipped_value_loss(*(torch.tensor(x) for x in (values, old_values, returns, mask)), eps)
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_value_clip_stops_the_gradient_only_when_it_makes_the_loss_smaller():
    # V_old = 0, R = 1, eps = 0.2. V = 0.5 moved past the clip toward R: the clipped error (0.8) is
    # larger, so max picks it and the gradient is 0. V = -0.5 moved away from R: the unclipped error wins.
    for v, expected_grad in [(0.5, 0.0), (-0.5, -1.5)]:
        values = torch.tensor([[[v]]], dtype=torch.float64, requires_grad=True)
        zeros, ones = torch.zeros(1, 1, 1, dtype=torch.float64), torch.ones(1, 1, 1, dtype=torch.float64)
        clipped_value_loss(values, zeros, ones, torch.ones(1, 1, 1, dtype=torch.bool), 0.2).backward()
        assert values.grad.item() == pytest.approx(expected_grad)


def test_kl_penalized_rewards_put_the_outcome_on_the_last_token():
    rewards = torch.tensor([[1.0, 0.0]])
    mask = torch.tensor([[[True, True, True], [True, False, False]]])
    old_logp = torch.tensor([[[-1.0, -2.0, -0.5], [-0.3, 9.0, 9.0]]])
    ref_logp = torch.tensor([[[-1.5, -1.0, -0.5], [-0.1, 0.0, 0.0]]])
    got = kl_penalized_rewards(rewards, old_logp, ref_logp, mask, kl_coef=0.1)
    expected = torch.tensor([[[-0.1 * 0.5, -0.1 * -1.0, 1.0], [-0.1 * -0.2, 0.0, 0.0]]])
    torch.testing.assert_close(got, expected)
    assert torch.equal(kl_penalized_rewards(rewards, old_logp, None, mask, 0.0)[..., -1], torch.tensor([[1.0, 0.0]]))


def test_explained_variance_by_hand():
    returns = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    mask = torch.ones(1, 1, 4, dtype=torch.bool)
    assert explained_variance(returns, returns, mask) == pytest.approx(1.0)
    assert explained_variance(torch.full_like(returns, 2.5), returns, mask) == pytest.approx(0.0)


def test_critic_values_are_read_at_the_policys_states(tiny_model):
    critic = ValueModel.from_policy(tiny_model).double()
    torch.nn.init.normal_(critic.head.weight)
    group = sample_group(tiny_model, [parse_problem("1+2-3"), parse_problem("45-6+78")], 2, 6,
                         generator=torch.Generator().manual_seed(0))
    values = completion_values(critic, group)
    # V(q, o_<t) must not depend on o_t or anything after it: change the last token, earlier values stay
    changed = group.completions.clone()
    changed[..., -1] = (changed[..., -1] + 1) % 10
    group.completions = changed
    torch.testing.assert_close(completion_values(critic, group)[..., :-1], values[..., :-1])


def test_a_critic_trained_on_a_fixed_batch_reduces_value_error(tiny_model):
    torch.manual_seed(0)
    critic = ValueModel.from_policy(tiny_model.float())
    group = sample_group(tiny_model, [parse_problem("1+2-3"), parse_problem("45-6+78")], 4, 8,
                         generator=torch.Generator().manual_seed(0))
    returns = torch.where(group.mask, torch.rand(group.mask.shape), 0.0)
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-3)
    losses = []
    for _ in range(60):
        values = completion_values(critic, group)
        loss = clipped_value_loss(values, values.detach(), returns, group.mask, clip_eps=10.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_padding_garbage_gets_no_gradient_in_the_value_loss():
    mask = torch.tensor([[[True, True, False]]])
    values = torch.tensor([[[0.5, -0.2, torch.nan]]], dtype=torch.float64, requires_grad=True)
    returns = torch.tensor([[[1.0, 0.0, torch.inf]]], dtype=torch.float64)
    loss = clipped_value_loss(values, values.detach(), returns, mask, 0.2)
    loss.backward()
    # 1/2 mean over the two real tokens of (V - R)^2: gradient (V - R) / 2 there, exactly 0 on padding
    torch.testing.assert_close(values.grad, torch.tensor([[[-0.25, -0.1, 0.0]]], dtype=torch.float64))
    with pytest.raises(ValueError, match="clip_eps must be >= 0"):
        clipped_value_loss(values, values.detach(), returns, mask, -0.2)
