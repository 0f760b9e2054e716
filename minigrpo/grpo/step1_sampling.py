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

from .. import checks
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

    def __post_init__(self):  # checked once, where it is made: every later step trusts its shapes
        checks.inputs(vars(self), "group", mask="bool [B, G, T] prefix", problems="list [B]", texts="list [B, G]",
                      prompt="tensor [B, G, P]", prompt_valid="bool [B, G, P]", completions="tensor [B, G, T]",
                      old_logp="float [B, G, T]", entropy="float [B, G, T] or None")


def sample_group(
    policy: GPT,
    problems: list[Problem],
    group_size: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    sampler=None,
) -> Group:
    """Sample G completions for each of the B problems, all B * G in one batch (``sampler``: see ``generate``)."""
    checks.inputs(locals(), policy=torch.nn.Module, problems=[Problem], group_size="int >= 1",
                  max_new_tokens="int >= 1", temperature="> 0")
    prompt, prompt_valid = encode_prompts([p.prompt for p in problems], next(policy.parameters()).device)  # [B, P]
    # [B*G, P] each, a prompt's G copies adjacent
    repeated = prompt.repeat_interleave(group_size, dim=0), prompt_valid.repeat_interleave(group_size, dim=0)
    out = generate(policy, *repeated, max_new_tokens, EOS_ID, PAD_ID, temperature=temperature, generator=generator,
                   return_entropy=True, sampler=sampler)
    return make_group(problems, *repeated, *out)


def make_group(problems: list[Problem], prompt: torch.Tensor, prompt_valid: torch.Tensor, completions: torch.Tensor,
               mask: torch.Tensor, old_logp: torch.Tensor, entropy: torch.Tensor) -> Group:
    """The Group of ``generate``'s output: every tensor [B * G, ...], a prompt's G rows adjacent."""
    B = len(problems)
    G = completions.shape[0] // B
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


def group_logprobs(model: GPT, group: Group, temperature: float = 1.0) -> torch.Tensor:
    """log pi(o_{i,t} | q, o_{i,<t}) under ``model`` (pi_theta or pi_ref): [B, G, T], 0 on padding.

    0, as in ``old_logp``: every log-prob of the update is then finite and equal on padding,
    so exp() of a ratio there is 1, never inf, and no NaN can reach the gradient.
    """
    checks.inputs(locals(), model=torch.nn.Module, group=Group, temperature="> 0")
    logp = token_logprobs(model, group.prompt.flatten(0, 1), group.prompt_valid.flatten(0, 1),
                          group.completions.flatten(0, 1), temperature)
    return torch.where(group.mask, logp.view(group.mask.shape), 0.0)
