"""What the critic buys: four kinds of per-token credit on the very same completions.

For one batch of completions, token by token:
  (a) GRPO, outcome supervision: (r_i - mean r) / std r, one number broadcast over o_i  (steps 2-3)
  (b) GRPO, process supervision: the sum of normalized step rewards ending at or after t (steps 2, 6)
  (c) PPO's critic: V(q, o_<t), its estimate of the final reward before token t is chosen
  (d) PPO's GAE advantage from those values and the outcome reward at the last token

(a) cannot tell the token that broke a wrong answer from the ones before it; (c) and (d)
can, because the baseline V changes along the completion; (b) gets part of that back from
a per-step verifier instead of a learned model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .grpo import (
    broadcast_to_tokens,
    group_advantages,
    process_advantages,
    sample_group,
    score_outcomes,
    score_steps,
)
from .model import GPT
from .ppo import Critic, completion_values, gae, kl_penalized_rewards
from .rewards import outcome_reward, step_rewards
from .task import Problem
from .tokenizer import EOS_ID


@dataclass
class TokenCredit:
    """B * G completions flattened to N rows; per-token tensors are [N, T]."""

    prompts: list[str]  # N: the problem each row answers
    tokens: list[list[str]]  # N rows of display strings, "<eos>" included
    rewards: torch.Tensor  # [N] outcome reward
    mask: torch.Tensor  # [N, T]
    outcome_adv: torch.Tensor  # (a)
    process_adv: torch.Tensor  # (b)
    values: torch.Tensor  # (c)
    gae_adv: torch.Tensor  # (d)


@torch.no_grad()
def token_credit(
    policy: GPT,
    critic: Critic,
    problems: list[Problem],
    group_size: int,
    max_new_tokens: int = 32,
    gamma: float = 1.0,
    lam: float = 0.95,
    adv_eps: float = 1e-4,
    generator: torch.Generator | None = None,
) -> TokenCredit:
    """Sample G completions per problem from ``policy`` and compute (a)-(d) on them.

    GAE here uses the outcome reward alone (no KL term, no whitening) so that its numbers
    are on the same scale as the critic's values and read directly.
    """
    group = sample_group(policy, problems, group_size, max_new_tokens, generator=generator)
    rewards = score_outcomes(outcome_reward, group)
    outcome_adv = broadcast_to_tokens(group_advantages(rewards, adv_eps), group.mask)
    step_r, step_ends, step_mask = score_steps(step_rewards, group)
    process_adv = process_advantages(step_r, step_ends, step_mask, group.mask.shape[-1], adv_eps)
    values = torch.where(group.mask, completion_values(critic, group), 0.0)
    token_rewards = kl_penalized_rewards(rewards, group.old_logp, None, group.mask, 0.0)
    gae_adv, _ = gae(token_rewards, values, group.mask, gamma, lam)
    flat = lambda x: x.flatten(0, 1)  # noqa: E731
    tokens = [
        list(text) + (["<eos>"] if EOS_ID in row.tolist() else [])
        for texts, rows in zip(group.texts, group.completions)
        for text, row in zip(texts, rows)
    ]
    return TokenCredit(
        prompts=[p.prompt for p in problems for _ in range(group_size)],
        tokens=tokens,
        rewards=flat(rewards),
        mask=flat(group.mask),
        outcome_adv=flat(outcome_adv),
        process_adv=flat(process_adv),
        values=flat(values),
        gae_adv=flat(gae_adv),
    )
