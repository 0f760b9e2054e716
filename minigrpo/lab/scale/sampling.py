"""Shard-invariant sampling: the completions of a prompt do not depend on how many processes share the batch.

One generator for the whole batch (the single-process loop's) hands out random numbers in batch order, so the
numbers prompt b gets depend on how many rows come before it, in its process. Here every prompt has its own
generator, seeded from the run's seed, the step and the prompt's index in the global batch, and draws its G
completions' tokens from it by inverting the CDF: token = the first v with sum_{u <= v} p_u > U, U ~ Uniform(0, 1).
So prompt b's tokens at step s are the same whether it is sampled with the whole batch in one process or with
1/R of it in each of R (up to the float rounding of its logits, which a batch of another size can change in the
last bits; a token changes only if U falls within that rounding of a boundary).
"""

from __future__ import annotations

import torch

# Large odd multipliers keep (seed, step, index) -> seed one-to-one over any run this size could have.
_STEP, _INDEX = 1_000_003, 998_244_353


def prompt_seed(seed: int, step: int, index: int) -> int:
    """The seed of prompt ``index`` (its place in the global batch) at ``step`` of a run seeded ``seed``."""
    return (seed * _STEP + step) * _INDEX + index


class PerPromptSampler:
    """``generate``'s sampler for B prompts of a shard, G rows each: rows b * G .. b * G + G - 1 are prompt b's."""

    def __init__(self, seed: int, step: int, indices: list[int], group_size: int, device: torch.device | str = "cpu"):
        self.group_size = group_size
        self.generators = [torch.Generator(device=device).manual_seed(prompt_seed(seed, step, i)) for i in indices]

    def __call__(self, probs: torch.Tensor) -> torch.Tensor:
        """probs [B * G, V] -> one token per row, by the inverse CDF of each row at its prompt's next uniforms."""
        if probs.shape[0] != len(self.generators) * self.group_size:
            raise ValueError(f"probs has {probs.shape[0]} rows, expected {len(self.generators)} prompts x "
                             f"{self.group_size}")
        uniforms = torch.cat([torch.rand(self.group_size, generator=g, device=g.device, dtype=probs.dtype)
                              for g in self.generators])
        cdf = probs.cumsum(-1)
        # U times the row's total, which rounding leaves a hair off 1: so U always falls below the last step of the
        # CDF, and "<=" never lands on a token of probability 0 (its step of the CDF is empty)
        return (cdf <= uniforms[:, None] * cdf[:, -1:]).sum(-1)


def per_prompt_sampler(world, cfg, step: int, first: int, count: int, device) -> PerPromptSampler | None:
    """The sampler of prompts first .. first + count - 1 of the global batch under torchrun; None in one process
    (the loop's own generator then samples, as it always has)."""
    if not world.torchrun:
        return None
    return PerPromptSampler(cfg.seed, step, list(range(first, first + count)), cfg.group_size, device)
