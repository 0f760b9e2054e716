"""What each loss divides by when the batch is split over processes, and what must be summed across them first.

The averages themselves are written once, in ``masked.aggregate`` (which takes the whole batch's counts) and
``masked.whiten`` (which takes the whole batch's mean and std); this module holds what each process contributes.

Data parallelism: R processes each hold 1/R of the prompts, as whole groups (the G completions of a prompt stay in
one process, so group normalization, step 3, needs nothing from the others). Each process computes a loss L_r on its
shard and DistributedDataParallel averages the gradients: grad = 1/R sum_r grad L_r. That is the gradient of the
one-process objective J over the whole batch only if

    L_r = R * (the shard's part of J's numerator) / (J's denominator, counted over the whole batch),

so every denominator that counts something of the whole batch is summed across processes (an all-reduce) first:

    aggregation  J over the whole batch               sum across processes   a per-process mean instead
    grpo (Eq. 3) 1/N sum_i 1/|o_i| sum_t x_{i,t}      N completions          exact when each holds N/R
    dapo         sum_i sum_t x_{i,t} / sum_i |o_i|    the real tokens        off whenever lengths differ
    dr_grpo      sum_i sum_t x_{i,t} / (N L_max)      N completions          exact when each holds N/R

with x_{i,t} = surrogate - beta KL per token. Batch-wide statistics need the same: the std of ``--adv-scale batch``
and GDPO (``World.std``), PPO's whitening (``World.mean_std``). Each is a count, a sum and a sum of squares summed
across processes (``moments``).

``local_counts`` and ``moments`` are what one process contributes; summing them over processes is the all-reduce
(``torch.distributed.all_reduce``; in one process, or in a test that plays all of them, a plain sum).
"""

from __future__ import annotations

import torch

from ... import checks


def local_counts(mask: torch.Tensor) -> torch.Tensor:
    """[completions, real tokens] of this process's shard, mask [B, G, T] -> float64 [2], to be summed across them."""
    checks.tensor("mask", mask, "[B, G, T]", "bool")
    return torch.tensor([mask.shape[0] * mask.shape[1], int(mask.sum())], dtype=torch.float64)


def moments(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """[count, sum, sum of squares] of x's real entries, float64 [3], to be summed across processes."""
    values = (x if mask is None else x[mask]).detach().double()
    return torch.stack([torch.tensor(float(values.numel()), dtype=torch.float64, device=values.device), values.sum(),
                        (values ** 2).sum()])


def mean_std(summed: torch.Tensor) -> tuple[float, float]:
    """Mean and sample std (n - 1, as torch.std) from moments summed over every process.

    s^2 = (sum x^2 - n mean^2) / (n - 1); in float64, so the subtraction loses little at these sizes.
    """
    n, total, squares = summed.tolist()
    if n < 2:
        raise ValueError(f"a std needs at least two values across all processes, got {int(n)}")
    mean = total / n
    return mean, max(squares - n * mean * mean, 0.0) ** 0.5 / (n - 1) ** 0.5
