"""What the critic buys: four kinds of per-token credit on the very same completions.

For one batch of completions, token by token:
  (a) GRPO, outcome supervision: (r_i - mean r) / std r, one number broadcast over o_i  (steps 2-3)
  (b) GRPO, process supervision: the sum of normalized step rewards ending at or after t (steps 2, 6)
  (c) PPO's critic: V(q, o_<t), its estimate of the final reward before token t is chosen
  (d) PPO's GAE advantage from those values and the outcome reward at the last token

(a) cannot tell the token that broke a wrong answer from the ones before it; (c) and (d)
can, because the baseline V changes along the completion; (b) gets part of that back from
a per-step verifier instead of a learned model.

``first_slips`` finds, in each wrong completion, the first step the verifier rejects and
how much the critic's value moved across it: where (c) falls, the critic saw the mistake.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...grpo import (
    broadcast_to_tokens,
    group_advantages,
    process_advantages,
    sample_group,
    score_outcomes,
    score_steps,
)
from ...model import GPT
from ...ppo import ValueModel, completion_values, gae, kl_penalized_rewards
from ...rewards import outcome_reward, step_rewards
from ...task import Problem
from ...tokenizer import EOS_ID


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


@dataclass(frozen=True)
class Slip:
    """The first wrong step of a wrong completion, and the critic's value across it."""

    row: int  # which of the N completions
    step: int  # which step (0-based)
    start: int  # token index of the step's first token
    end: int  # token index of its last token (the ';')
    value_change: float  # V after the step minus V before it
    gap_to_right: float  # V after it minus the mean V after the same step in the group's right answers


@torch.no_grad()
def token_credit(
    policy: GPT,
    critic: ValueModel,
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


def first_slips(credit: TokenCredit, problems: list[Problem]) -> list[Slip]:
    """For each wrong completion whose first failing step is followed by another, that step.

    Row n of ``credit`` answers ``problems[n // G]``. V after step j is V(q, o_<end_j + 1),
    the critic's estimate once the step is written. A critic that saw the mistake has a
    negative ``gap_to_right``: its value after the slip is below its value after the same
    step in the right answers to the same prompt (NaN if there are none). A last step has
    no state after it inside the completion, so it is skipped.
    """
    G = len(credit.tokens) // len(problems)
    text = lambda n: "".join(t for t in credit.tokens[n] if t != "<eos>")  # noqa: E731
    steps = [step_rewards(problems[n // G], text(n)) for n in range(len(credit.tokens))]
    slips = []
    for n in range(len(credit.tokens)):
        if credit.rewards[n] > 0:
            continue
        failed = [j for j, score in enumerate(steps[n][:-1]) if score.reward == 0]
        if not failed:
            continue
        j = failed[0]
        start = steps[n][j - 1].end + 1 if j > 0 else 0
        after = credit.values[n, steps[n][j].end + 1].item()
        group = range(n // G * G, (n // G + 1) * G)
        right = [credit.values[r, steps[r][j].end + 1].item() for r in group
                 if credit.rewards[r] > 0 and len(steps[r]) > j + 1]
        gap = after - sum(right) / len(right) if right else float("nan")
        slips.append(Slip(n, j, start, steps[n][j].end, after - credit.values[n, start].item(), gap))
    return slips
