"""The token-credit comparison behind the strip figure: four per-token signals on the same completions."""

import torch

from minigrpo.analysis import token_credit
from minigrpo.plots import plot_token_credit
from minigrpo.ppo import Critic
from minigrpo.task import parse_problem

PROBLEMS = [parse_problem("1+2-3"), parse_problem("4+5+6")]


def test_four_signals_aligned_on_the_same_tokens(tiny_model, tmp_path):
    critic = Critic.from_policy(tiny_model)
    torch.nn.init.normal_(critic.value_head.weight, std=0.1)
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
