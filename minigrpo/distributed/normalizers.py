"""What each loss divides by when the batch is split over processes, and what must be summed across them first.

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
and GDPO (``World.std``), PPO's whitening (``whiten_across``). Each is a count, a sum and a sum of squares summed
across processes (``moments``).

``local_counts`` and ``moments`` are what one process contributes; summing them over processes is the all-reduce
(``torch.distributed.all_reduce``; in one process, or in a test that plays all of them, a plain sum).
"""

from __future__ import annotations

import torch

from .. import checks
from ..masked import completion_mean


def local_counts(mask: torch.Tensor) -> torch.Tensor:
    """[completions, real tokens] of this process's shard, mask [B, G, T] -> float64 [2], to be summed across them."""
    checks.tensor("mask", mask, "[B, G, T]", "bool")
    return torch.tensor([mask.shape[0] * mask.shape[1], int(mask.sum())], dtype=torch.float64)


def shard_objective(per_token: torch.Tensor, mask: torch.Tensor, how: str, counts: torch.Tensor, world_size: int,
                    max_len: int | None = None) -> torch.Tensor:
    """L_r: this shard's part of J, times R, over J's denominator for the whole batch (the module's table).

    per_token, mask [B, G, T] of this shard; ``counts`` the sum of every process's ``local_counts``; ``max_len`` is
    L_max (dr_grpo only). The mean of L_r over the R processes is J of the whole batch, and so is its gradient.
    """
    checks.tensor("per_token", per_token, "[B, G, T]", "float")
    checks.tensor("counts", counts, "[2]", "float")
    if per_token.shape != mask.shape:
        raise ValueError(f"per_token {tuple(per_token.shape)} and mask {tuple(mask.shape)} must match")
    if world_size < 1:
        raise ValueError(f"world_size must be at least 1, got {world_size}")
    completions, tokens = counts.tolist()
    real = torch.where(mask, per_token, 0.0)
    if how == "grpo":
        return world_size * completion_mean(per_token, mask).sum() / completions
    if how == "dapo":
        return world_size * real.sum() / max(tokens, 1.0)
    if how == "dr_grpo":
        if max_len is None or max_len < int(mask.sum(-1).max()):
            raise ValueError(f"dr_grpo needs max_len >= the longest completion, got {max_len}")
        return world_size * real.sum() / (completions * max_len)
    raise ValueError(f"aggregation must be 'grpo', 'dapo' or 'dr_grpo', got {how!r}")


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


def whiten_across(world, x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """masked.whiten over the real tokens of every process: (x - mean) / (std + eps), 0 on padding, x [B, G, T].

    Whitening each shard by its own mean and std instead would give each process's advantages mean 0: a shard whose
    completions all did better than the batch's average would still push about half of them down."""
    checks.tensor("x", x, "[..., T]", "float")
    checks.tensor("mask", mask, "[..., T]", "bool")
    checks.finite("x", x, mask)
    mean, std = mean_std(world.sum(moments(x, mask)))
    return torch.where(mask, (x - mean) / (std + eps), 0.0)
