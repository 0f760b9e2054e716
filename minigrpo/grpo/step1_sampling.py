"""Step 1 — sample a group of G completions per prompt from the old policy.

For each prompt q, draw o_1, ..., o_G ~ pi_old(. | q): the expectation
E[q ~ P(Q), {o_i} ~ pi_old(O | q)] of DeepSeekMath Eq. 3, estimated with B prompts.
pi_old is the policy as it is when the batch is sampled; with one inner step (mu = 1)
it equals pi_theta before the update, so ``old_logp`` is just the sampling log-probs,
no second forward pass.

``fast=True`` (``--fast``) computes the same numbers with ``minigrpo/fast.py``: each prompt once per
group, finished completions dropped from the batch, completions scored in buckets of similar length.

Deviations from the paper: none (temperature is a config value; the policy is
softmax(logits / temperature) everywhere, so ratios compare like with like).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import checks
from .. import fast as fast_path
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
    entropy: torch.Tensor | None = None  # [B, G, T] entropy of the whole pi_old(. | q, o_<t); 0 on padding


def sample_group(
    policy: GPT,
    problems: list[Problem],
    group_size: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    sampler=None,
    fast: bool = False,
) -> Group:
    """Sample G completions for each of the B problems, all B * G in one batch (``sampler``: see ``generate``)."""
    if not isinstance(policy, torch.nn.Module):
        raise TypeError(f"policy must be a torch.nn.Module (the GPT), got {type(policy).__name__}")
    if not isinstance(problems, (list, tuple)) or not all(isinstance(p, Problem) for p in problems):
        raise TypeError(f"problems must be a list of task.Problem, got {problems!r:.80}")
    if len(problems) == 0:
        raise ValueError("problems is empty: there is nothing to sample for")
    checks.integer("group_size", group_size, low=1)
    checks.integer("max_new_tokens", max_new_tokens, low=1)
    checks.number("temperature", temperature, low=0, low_open=True)
    B, G = len(problems), group_size
    device = next(policy.parameters()).device
    prompt, prompt_valid = encode_prompts([p.prompt for p in problems], device)  # [B, P]
    # [B*G, P] each, a prompt's G copies adjacent
    repeated = prompt.repeat_interleave(G, dim=0), prompt_valid.repeat_interleave(G, dim=0)
    if fast:  # the same numbers, each prompt computed once for its G completions
        out = fast_path.generate_groups(policy, prompt, prompt_valid, G, max_new_tokens, EOS_ID, PAD_ID,
                                        temperature, generator, sampler)
    else:
        out = generate(policy, *repeated, max_new_tokens, EOS_ID, PAD_ID, temperature=temperature,
                       generator=generator, return_entropy=True, sampler=sampler)
    prompt, prompt_valid = repeated
    completions, mask, old_logp, entropy = out
    texts = [decode(row) for row in completions.tolist()]
    return Group(
        problems=list(problems),
        prompt=prompt.view(B, G, -1),
        prompt_valid=prompt_valid.view(B, G, -1),
        completions=completions.view(B, G, -1),
        mask=mask.view(B, G, -1),
        old_logp=old_logp.view(B, G, -1),
        texts=[texts[b * G : (b + 1) * G] for b in range(B)],
        entropy=entropy.view(B, G, -1),
    )


def group_logprobs(model: GPT, group: Group, temperature: float = 1.0, fast: bool = False) -> torch.Tensor:
    """log pi(o_{i,t} | q, o_{i,<t}) under ``model`` (pi_theta or pi_ref): [B, G, T], 0 on padding.

    0, as in ``old_logp``: every log-prob of the update is then finite and equal on padding,
    so exp() of a ratio there is 1, never inf, and no NaN can reach the gradient.
    """
    if not isinstance(group, Group):
        raise TypeError(f"group must be a Group (from sample_group), got {type(group).__name__}")
    checks.number("temperature", temperature, low=0, low_open=True)
    B, G, T = group.completions.shape
    if fast:  # the same numbers, each prompt computed once for its G completions
        if not torch.equal(group.prompt, group.prompt[:, :1].expand_as(group.prompt)):
            raise ValueError("fast=True needs the G completions of a group to share one prompt, as sample_group's do")
        logp = fast_path.group_token_logprobs(model, group.prompt[:, 0], group.prompt_valid[:, 0],
                                              group.completions.flatten(0, 1), temperature,
                                              fast_path.scored_lengths(group.mask.flatten(0, 1)))
    else:
        logp = token_logprobs(
            model,
            group.prompt.flatten(0, 1),
            group.prompt_valid.flatten(0, 1),
            group.completions.flatten(0, 1),
            temperature,
        )
    return torch.where(group.mask, logp.view(B, G, T), 0.0)
