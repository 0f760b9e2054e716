"""Per-step credit beyond the paper (grpo/credit.py): VinePPO's Monte Carlo step advantages, process
advantages at outcome size, noisy step labels; each against a hand computation."""

import pytest
import torch

from minigrpo.grpo import sample_group, score_outcomes
from minigrpo.lab.variants import credit
from minigrpo.lab.variants.credit import (
    flip_step_labels,
    mean_over_steps,
    monte_carlo_step_advantages,
    step_value_advantages,
)
from minigrpo.prefix_values import step_boundaries
from minigrpo.rewards import outcome_reward
from minigrpo.task import parse_problem


def test_step_value_advantages_by_hand():
    # states before token 0, after token 2, after token 5 (the end); V = 0.5, 0.75, then the reward 0
    adv = step_value_advantages([0, 3, 6], [0.5, 0.75, 0.0], 8)
    expected = torch.tensor([0.25, 0.25, 0.25, -0.75, -0.75, -0.75, 0.0, 0.0])  # padding after the end: 0
    torch.testing.assert_close(adv, expected)


def test_step_value_advantages_refuse_mismatched_states():
    with pytest.raises(ValueError, match="one value per state"):
        step_value_advantages([0, 3, 6], [0.5, 1.0], 8)
    with pytest.raises(ValueError, match="increasing states"):
        step_value_advantages([0, 3, 3], [0.5, 1.0, 1.0], 8)
    with pytest.raises(ValueError, match="within"):
        step_value_advantages([0, 9], [0.5, 1.0], 8)


@pytest.fixture
def group_and_values(monkeypatch, tiny_model):
    """A sampled group, and V_MC replaced by a known function of the prefix: its length / 100."""
    problems = [parse_problem("1+2-3"), parse_problem("4+5")]
    group = sample_group(tiny_model, problems, 3, 12, 1.0, torch.Generator().manual_seed(0))
    asked = []

    def fake_values(policy, owners, prefixes, K, max_new_tokens, temperature, generator):
        asked.append((K, max_new_tokens, temperature, prefixes))
        return torch.tensor([len(p) / 100 for p in prefixes]), torch.zeros(len(prefixes))

    monkeypatch.setattr(credit, "monte_carlo_values", fake_values)
    return group, asked


def test_monte_carlo_step_advantages_assemble_the_values_of_each_state(tiny_model, group_and_values):
    group, asked = group_and_values
    rewards = score_outcomes(outcome_reward, group)
    adv = monte_carlo_step_advantages(tiny_model, group, rewards, 5, 12, 0.8)
    assert [a[:3] for a in asked] == [(5, 12, 0.8)]  # one call with the trainer's K, budget and temperature
    lengths = group.mask.sum(-1)
    for b in range(2):
        for g in range(3):
            bounds = step_boundaries(group.texts[b][g], int(lengths[b, g]))
            values = [t / 100 for t in bounds[:-1]] + [rewards[b, g].item()]
            torch.testing.assert_close(adv[b, g], step_value_advantages(bounds, values, group.mask.shape[-1]))
            # telescoping: the first token of each step carries its change; together r - V(q), V(q) = 0 here
            assert sum(adv[b, g, t].item() for t in bounds[:-1]) == pytest.approx(rewards[b, g].item(), abs=1e-6)


def test_monte_carlo_step_advantages_with_real_values_share_v_of_q_across_the_group(tiny_model):
    problems = [parse_problem("1+2-3"), parse_problem("4+5")]
    group = sample_group(tiny_model, problems, 4, 12, 1.0, torch.Generator().manual_seed(1))
    rewards = score_outcomes(outcome_reward, group)
    adv = monte_carlo_step_advantages(tiny_model, group, rewards, 4, 12, 1.0, torch.Generator().manual_seed(2))
    assert ((adv == 0) | group.mask).all()  # nothing on padding
    lengths = group.mask.sum(-1)
    for b in range(2):
        # the step changes of each completion sum to r_i - V_MC(q), and V_MC(q) is one estimate per prompt
        v_q = [rewards[b, g].item() - sum(adv[b, g, t].item()
                                          for t in step_boundaries(group.texts[b][g], int(lengths[b, g]))[:-1])
               for g in range(4)]
        assert max(v_q) - min(v_q) < 1e-6 and 0 <= v_q[0] <= 1


def test_mean_over_steps_divides_each_completion_by_its_number_of_steps():
    adv = torch.tensor([[[3.0, 3.0, 1.5], [2.0, -4.0, 0.0]]])
    step_mask = torch.tensor([[[True, True, True], [True, True, False]]])
    torch.testing.assert_close(mean_over_steps(adv, step_mask), torch.tensor([[[1.0, 1.0, 0.5], [1.0, -2.0, 0.0]]]))


def test_flip_step_labels_flips_real_steps_at_rate_p():
    rewards = torch.ones(20, 50, 4)
    rewards[..., 1] = 0.0
    mask = torch.ones(20, 50, 4, dtype=torch.bool)
    mask[..., 3] = False  # padding: never flipped
    flipped = flip_step_labels(rewards, mask, 0.2, torch.Generator().manual_seed(0))
    changed = flipped != rewards
    assert not changed[..., 3].any()
    rate, n = changed[mask].float().mean().item(), int(mask.sum())
    assert abs(rate - 0.2) < 4 * (0.2 * 0.8 / n) ** 0.5
    assert torch.equal(flipped[changed], 1 - rewards[changed])  # a flip is 1 <-> 0
    assert torch.equal(flip_step_labels(rewards, mask, 0.0), rewards)


def test_flip_step_labels_needs_binary_rewards():
    with pytest.raises(ValueError, match="0/1"):
        flip_step_labels(torch.full((1, 1, 2), 0.5), torch.ones(1, 1, 2, dtype=torch.bool), 0.1)
