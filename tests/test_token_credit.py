"""The token-credit comparison behind the strip figure: four per-token signals on the same completions."""

from dataclasses import replace

import pytest
import torch
from matplotlib.patches import Rectangle

from minigrpo.lab.viz import plots
from minigrpo.lab.viz.plots import plot_token_credit
from minigrpo.lab.viz.token_credit import TokenCredit, first_slips, token_credit
from minigrpo.ppo import ValueModel
from minigrpo.task import parse_problem

PROBLEMS = [parse_problem("1+2-3"), parse_problem("4+5+6")]


def test_four_signals_aligned_on_the_same_tokens(tiny_model, tmp_path):
    critic = ValueModel.from_policy(tiny_model)
    torch.nn.init.normal_(critic.head.weight, std=0.1)
    credit = token_credit(tiny_model, critic, PROBLEMS, 4, max_new_tokens=12,
                          generator=torch.Generator().manual_seed(0))
    N, T = credit.mask.shape
    assert N == 8 and len(credit.tokens) == len(credit.prompts) == 8
    for row in range(N):
        length = int(credit.mask[row].sum())
        assert len(credit.tokens[row]) == length
        for signal in (credit.outcome_adv, credit.process_adv, credit.values, credit.gae_adv):
            assert signal.shape == (N, T) and (signal[row, length:] == 0).all()
        # GRPO's outcome advantage is one number for the whole completion
        assert torch.unique(credit.outcome_adv[row, :length]).numel() == 1
    # GAE with lambda = 1 and only a final reward: A_t = r - V_t along each completion
    lam_one = token_credit(tiny_model, critic, PROBLEMS, 4, max_new_tokens=12, lam=1.0,
                           generator=torch.Generator().manual_seed(0))
    expected = torch.where(lam_one.mask, lam_one.rewards[:, None] - lam_one.values, 0.0)
    torch.testing.assert_close(lam_one.gae_adv, expected)
    path = plot_token_credit(credit, [0, 1, 2, 3], tmp_path / "strips.png")
    assert path.stat().st_size > 10_000


def hand_made_credit(texts, rewards, values):
    """A TokenCredit for one problem's G completions, with the critic's values given per token."""
    T = max(len(t) for t in texts) + 1
    mask = torch.tensor([[i <= len(t) for i in range(T)] for t in texts])
    v = torch.zeros(len(texts), T)
    for n, row in enumerate(values):
        v[n, : len(row)] = torch.tensor(row)
    zeros = torch.zeros(len(texts), T)
    return TokenCredit(prompts=["1+2-3:"] * len(texts), tokens=[list(t) + ["<eos>"] for t in texts],
                       rewards=torch.tensor(rewards), mask=mask, outcome_adv=zeros, process_adv=zeros,
                       values=v, gae_adv=zeros)


def test_first_slip_is_the_first_rejected_step_with_the_value_change_across_it():
    texts = ["1+2=3;3-3=0;#0",   # right: no slip
             "1+2=4;4-3=1;#1",   # step 1 wrong (tokens 0-5): V before it 0.8, before step 2 0.2
             "1+2=3;3-3=1;#1",   # step 2 wrong (tokens 6-11): V 0.7 before, 0.6 after
             "1+2=3;3-3=0;#1"]   # only the final answer is wrong: no state after it, skipped
    values = [[0.5] * 15, [0.8] * 6 + [0.2] * 9, [0.5] * 6 + [0.7] * 6 + [0.6] * 3, [0.5] * 15]
    credit = hand_made_credit(texts, [1.0, 0.0, 0.0, 0.0], values)
    slips = first_slips(credit, [parse_problem("1+2-3")])
    assert [(s.row, s.step, s.start, s.end) for s in slips] == [(1, 0, 0, 5), (2, 1, 6, 11)]
    assert [s.value_change for s in slips] == pytest.approx([0.2 - 0.8, 0.6 - 0.7])
    # the right answer's value after step 1 (token 6) and after step 2 (token 12) is 0.5
    assert [s.gap_to_right for s in slips] == pytest.approx([0.2 - 0.5, 0.6 - 0.5])


def test_slips_are_outlined_on_the_strips(tmp_path, monkeypatch):
    credit = hand_made_credit(["1+2=4;4-3=1;#1", "1+2=3;3-3=0;#0"], [0.0, 1.0], [[0.8] * 6 + [0.2] * 9, [0.5] * 15])
    slips = first_slips(credit, [parse_problem("1+2-3")])
    closed = []
    monkeypatch.setattr(plots.plt, "close", closed.append)  # keep the figure to look at its patches
    path = plot_token_credit(credit, [0, 1], tmp_path / "strips.png", slips=slips)
    assert path.stat().st_size > 10_000
    # one outline per panel, around tokens 0-5 of the first row: x from -0.5, width 6, y from -0.5
    outlines = [p for ax in closed[0].axes for p in ax.patches if isinstance(p, Rectangle)]
    assert len(outlines) == len(plots.STRIPS)
    assert all((r.get_x(), r.get_y(), r.get_width(), r.get_height()) == (-0.5, -0.5, 6, 1) for r in outlines)


def test_advantage_strips_share_one_colour_scale(tmp_path, monkeypatch):
    credit = hand_made_credit(["1+2=4;4-3=1;#1", "1+2=3;3-3=0;#0"], [0.0, 1.0], [[0.8] * 6 + [0.2] * 9, [0.5] * 15])
    sign = torch.tensor([[-1.0], [1.0]]) * credit.mask
    credit = replace(credit, outcome_adv=0.7 * sign, gae_adv=0.3 * sign,
                     process_adv=sign * torch.linspace(2.5, 0.5, credit.mask.shape[1]))
    closed = []
    monkeypatch.setattr(plots.plt, "close", closed.append)
    plot_token_credit(credit, [0, 1], tmp_path / "strips.png")
    limits = {key: ax.images[0].get_clim() for ax, (key, _, _) in zip(closed[0].axes[:len(plots.STRIPS)], plots.STRIPS)}
    largest = 2.5  # process supervision's first token: it sets the scale of all three
    assert limits["values"] == (0.0, 1.0)
    for key in ("outcome_adv", "process_adv", "gae_adv"):  # the largest |A| of any of the three sets all three
        assert limits[key] == pytest.approx((-largest, largest))
