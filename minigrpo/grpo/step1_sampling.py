"""Step 1 — sample a group of G completions per prompt from the old policy.

For each prompt q, draw o_1, ..., o_G ~ pi_old(. | q): the expectation
E[q ~ P(Q), {o_i} ~ pi_old(O | q)] of DeepSeekMath Eq. 3, estimated with B prompts.
pi_old is the policy as it is when the batch is sampled; with one inner step (mu = 1)
it equals pi_theta before the update, so ``old_logp`` is just the sampling log-probs,
no second forward pass.

Deviations from the paper: none (temperature is a config value; the policy is
softmax(logits / temperature) everywhere, so ratios compare like with like).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..model import GPT, generate, token_logprobs
from ..task import Problem
from ..tokenizer import EOS_ID, PAD_ID, decode, encode_prompts


@dataclass
class Group:
    """B prompts with G completions each."""

    problems: list[Problem]  # B
    prompt: torch.Tensor  # [B, G, P] left-padded prompt tokens, repeated G times
    prompt_valid: torch.Tensor  # [B, G, P] False on prompt padding
    completions: torch.Tensor  # [B, G, T] sampled tokens, <pad> after <eos>
    mask: torch.Tensor  # [B, G, T] True on completion tokens (the <eos> included)
    old_logp: torch.Tensor  # [B, G, T] log pi_old(o_t | q, o_<t); 0 on padding
    texts: list[list[str]]  # B x G decoded completions (without <eos>)


def sample_group(
    policy: GPT,
    problems: list[Problem],
    group_size: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> Group:
    """Sample G completions for each of the B problems, all B * G in one batch."""
    B, G = len(problems), group_size
    device = next(policy.parameters()).device
    prompt, prompt_valid = encode_prompts([p.prompt for p in problems], device)
    prompt = prompt.repeat_interleave(G, dim=0)  # [B*G, P], each prompt's G copies adjacent
    prompt_valid = prompt_valid.repeat_interleave(G, dim=0)
    completions, mask, old_logp = generate(
        policy, prompt, prompt_valid, max_new_tokens, EOS_ID, PAD_ID,
        temperature=temperature, generator=generator,
    )
    texts = [decode(row) for row in completions.tolist()]
    return Group(
        problems=list(problems),
        prompt=prompt.view(B, G, -1),
        prompt_valid=prompt_valid.view(B, G, -1),
        completions=completions.view(B, G, -1),
        mask=mask.view(B, G, -1),
        old_logp=old_logp.view(B, G, -1),
        texts=[texts[b * G : (b + 1) * G] for b in range(B)],
    )


def group_logprobs(model: GPT, group: Group, temperature: float = 1.0) -> torch.Tensor:
    """log pi(o_{i,t} | q, o_{i,<t}) under ``model`` (pi_theta or pi_ref): [B, G, T], 0 on padding.

    0, as in ``old_logp``: every log-prob of the update is then finite and equal on padding,
    so exp() of a ratio there is 1, never inf, and no NaN can reach the gradient.
    """
    B, G, T = group.completions.shape
    logp = token_logprobs(
        model,
        group.prompt.flatten(0, 1),
        group.prompt_valid.flatten(0, 1),
        group.completions.flatten(0, 1),
        temperature,
    )
    return torch.where(group.mask, logp.view(B, G, T), 0.0)
