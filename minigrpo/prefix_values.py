"""Monte Carlo prefix values: how good a partial completion is, measured by finishing it K times.

    V_MC(q, o_<t) = 1/K sum_k r(q, o_<t c_k),      c_1 .. c_K ~ pi(. | q, o_<t)

the expected outcome reward from the state before token t, estimated by sampling K continuations
of the prefix o_<t from the policy and scoring each finished completion with the outcome verifier.
Its standard error is s / sqrt(K), with s the sample std of the K rewards. This is the ideal
prefix-level baseline: what PPO's critic tries to learn, and what VinePPO (Kazemnejad et al. 2024)
computes by sampling instead of learning it. A prefix that already holds its <eos>, or has used the
whole budget, is finished: its value is its own reward, exactly.

Each continuation gets the generation budget the prefix leaves, ``max_new_tokens - t``, so a
prefix's value is that of the completions the policy could still write in training. A prefix that
occurs several times (the empty prefix of every completion of one prompt, a first step most samples
share) is valued once, and its rows share that estimate.
"""

from __future__ import annotations

import torch

from .model import GPT, generate
from .rewards import outcome_reward
from .task import Problem, split_segments
from .tokenizer import BOS_ID, EOS_ID, PAD_ID, decode, encode


@torch.no_grad()
def monte_carlo_values(
    policy: GPT,
    problems: list[Problem],
    prefixes: list[list[int]],
    K: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """V_MC and its standard error for each (problem, prefix of completion token ids): two [N] tensors."""
    if len(problems) != len(prefixes) or K < 2:
        raise ValueError(f"need one prefix per problem and K >= 2, got {len(problems)} problems, "
                         f"{len(prefixes)} prefixes, K = {K}")
    if any(len(p) > max_new_tokens for p in prefixes):
        raise ValueError(f"a prefix is longer than the generation budget max_new_tokens = {max_new_tokens}")
    keys = [(problem.prompt, tuple(prefix)) for problem, prefix in zip(problems, prefixes)]
    unique = {key: n for n, key in reversed(list(enumerate(keys)))}  # each key's first row
    if len(unique) < len(keys):
        rows = sorted(unique.values())
        values, errors = monte_carlo_values(policy, [problems[n] for n in rows], [prefixes[n] for n in rows], K,
                                            max_new_tokens, temperature, generator)
        where = {keys[n]: i for i, n in enumerate(rows)}
        index = torch.tensor([where[key] for key in keys])
        return values[index], errors[index]
    rewards = torch.zeros(len(prefixes), K)
    finished = [EOS_ID in prefix or len(prefix) == max_new_tokens for prefix in prefixes]
    for n in (n for n, done in enumerate(finished) if done):  # nothing left to sample
        rewards[n] = outcome_reward(problems[n], decode(prefixes[n]))
    open_rows = [n for n, done in enumerate(finished) if not done]
    # One batch per prefix length t: every row then has the same budget, max_new_tokens - t.
    for t in sorted({len(prefixes[n]) for n in open_rows}):
        rows = [n for n in open_rows if len(prefixes[n]) == t]
        contexts = [[BOS_ID] + encode(problems[n].prompt) + prefixes[n] for n in rows]
        width = max(len(c) for c in contexts)
        device = next(policy.parameters()).device
        tokens = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
        for i, c in enumerate(contexts):
            tokens[i, width - len(c):] = torch.tensor(c)  # left-padded, as prompts are
        tokens = tokens.to(device).repeat_interleave(K, dim=0)  # [len(rows) * K, width], each row's K copies adjacent
        continuations, _, _ = generate(policy, tokens, tokens != PAD_ID, max_new_tokens - t, EOS_ID, PAD_ID,
                                       temperature=temperature, generator=generator)
        for i, n in enumerate(rows):
            for k in range(K):
                text = decode(prefixes[n] + continuations[i * K + k].tolist())
                rewards[n, k] = outcome_reward(problems[n], text)
    return rewards.mean(1), rewards.std(1) / K**0.5


def step_boundaries(text: str, length: int) -> list[int]:
    """The states between steps, as token indices: 0 (before the first token), after each step but the last,
    and ``length`` (after the last token: the <eos> if there is one). Steps are ``task.split_segments``'s, the
    ones the step verifier scores; one token per character."""
    return [0] + [end + 1 for _, end in split_segments(text)[:-1]] + [length]
