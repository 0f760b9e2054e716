"""Split a batch over R processes (played here in one): the mean of the processes' losses, and of their gradients,
is the one-process objective only with the denominators summed across processes (``masked.aggregate`` given the
whole batch's counts); a per-process mean is not. Whitening with the statistics of every process (``masked.whiten``
given ``World.mean_std``) is whitening the whole batch."""

import numpy as np
import pytest
import torch

from minigrpo.lab.scale import World
from minigrpo.lab.scale.normalizers import local_counts, mean_std, moments
from minigrpo.lab.variants.variants import rescaled_advantages
from minigrpo.masked import aggregate, whiten


class Played:
    """One process of a torchrun, played in one: its all-reduce adds what the other shards contribute."""

    def __init__(self, others):
        self.others, self.torchrun = others, True

    def sum(self, tensor):
        return tensor + sum(self.others)

    std = World.std  # World's own, over the played all-reduce
    mean_std = World.mean_std


def batch(lengths, T=6, seed=0):
    """per_token values [B, G, T] (float64, requiring grad) with padding garbage, and the mask of ``lengths``."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    mask = torch.arange(T) < lengths[..., None]
    x = torch.randn(*mask.shape, generator=gen, dtype=torch.float64)
    x = torch.where(mask, x, torch.tensor(float("nan"), dtype=torch.float64)).requires_grad_()
    return x, mask


def numpy_objective(x, mask, how, max_len):
    """J over the whole batch and its gradient dJ/dx, by hand in float64 numpy, from normalizers.py's table."""
    x, mask = x.detach().numpy(), mask.numpy()
    real = np.where(mask, x, 0.0)
    lengths = mask.sum(-1, keepdims=True)
    n = mask.shape[0] * mask.shape[1]
    if how == "grpo":  # 1/N sum_i 1/|o_i| sum_t x_{i,t}
        return np.mean(real.sum(-1) / lengths[..., 0]), np.where(mask, 1.0 / (n * lengths), 0.0)
    if how == "dapo":  # sum_i sum_t x_{i,t} / sum_i |o_i|
        return real.sum() / mask.sum(), np.where(mask, 1.0 / mask.sum(), 0.0)
    return real.sum() / (n * max_len), np.where(mask, 1.0 / (n * max_len), 0.0)  # dr_grpo: / (N L_max)


# Two processes of 2 prompts x G = 2, lengths very different between them, and three of 1, 2 and 1 prompts.
SHARDINGS = [[slice(0, 2), slice(2, 4)], [slice(0, 1), slice(1, 3), slice(3, 4)]]
LENGTHS = [[2, 3], [1, 2], [6, 5], [4, 6]]


@pytest.mark.parametrize("how", ["grpo", "dapo", "dr_grpo"])
@pytest.mark.parametrize("shards", SHARDINGS, ids=["2 even", "3 uneven"])
def test_the_mean_of_the_shard_losses_is_the_whole_batch_objective(how, shards):
    x, mask = batch(LENGTHS)
    counts = sum(local_counts(mask[s]) for s in shards)  # the all-reduce
    assert counts.tolist() == [8, sum(map(sum, LENGTHS))]
    losses = [aggregate(x[s], mask[s], how, max_len=6, counts=counts.tolist(), world_size=len(shards))
              for s in shards]
    mean = torch.stack(losses).mean()  # what DDP's gradient averaging optimizes
    value, gradient = numpy_objective(x, mask, how, 6)
    assert mean.item() == pytest.approx(value, rel=1e-12)
    (grad,) = torch.autograd.grad(mean, x)
    np.testing.assert_allclose(grad.numpy(), gradient, rtol=1e-12, atol=0)  # 0 on padding, not NaN
    whole = aggregate(x, mask, how, max_len=6)  # one process, its own counts
    assert whole.item() == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(torch.autograd.grad(whole, x)[0].numpy(), gradient, rtol=1e-12, atol=0)


def test_a_per_process_token_mean_weighs_the_tokens_of_short_shards_more():
    x, mask = batch(LENGTHS)
    shards = SHARDINGS[0]
    per_process = torch.stack([torch.where(mask[s], x[s], 0.0).sum() / mask[s].sum() for s in shards]).mean()
    right, _ = numpy_objective(x, mask, "dapo", 6)
    assert abs(per_process.item() - right) > 0.05  # 8 tokens against 21: each short-shard token counts 21/8 more
    # with equal shards of completions, a per-process completion mean is exact: grpo needs nothing summed
    per_process_grpo = torch.stack([
        (torch.where(mask[s], x[s], 0.0).sum(-1) / mask[s].sum(-1)).mean() for s in shards]).mean()
    assert per_process_grpo.item() == pytest.approx(numpy_objective(x, mask, "grpo", 6)[0], rel=1e-12)


def test_batch_statistics_from_summed_moments_are_the_whole_batch_ones():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    summed = sum(moments(rewards[s]) for s in (slice(0, 1), slice(1, 3)))
    mean, std = mean_std(summed)
    assert mean == pytest.approx(rewards.mean().item()) and std == pytest.approx(rewards.std().item(), rel=1e-12)
    x, mask = batch(LENGTHS)
    mean, std = mean_std(sum(moments(x[s].detach(), mask[s]) for s in SHARDINGS[1]))
    real = x.detach().numpy()[mask.numpy()]
    assert mean == pytest.approx(real.mean(), rel=1e-12) and std == pytest.approx(real.std(ddof=1), rel=1e-12)


def test_whitening_across_processes_is_whitening_the_whole_batch_and_per_shard_is_not():
    x, mask = batch(LENGTHS)
    x = x.detach()
    shards = SHARDINGS[1]
    parts = []
    for s in shards:
        others = [moments(x[o], mask[o]) for o in shards if o != s]
        parts.append(whiten(x[s], mask[s], mean_std=Played(others).mean_std))
    real = x.numpy()[mask.numpy()]
    expected = np.where(mask.numpy(), (x.numpy() - real.mean()) / (real.std(ddof=1) + 1e-8), 0.0)  # float64 numpy
    np.testing.assert_allclose(torch.cat(parts).numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(whiten(x, mask).numpy(), expected, rtol=1e-12, atol=1e-12)  # masked.whiten agrees
    per_shard = torch.cat([whiten(x[s], mask[s]) for s in shards])
    assert (per_shard - torch.cat(parts)).abs().max() > 0.1  # each shard's own mean 0: not the batch's whitening
    assert torch.equal(whiten(x, mask, mean_std=World().mean_std), whiten(x, mask))  # one process: bit for bit


def test_the_batch_std_of_rewards_across_processes_is_the_whole_batch_std():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 1.0, 1.0]],
                           dtype=torch.float64)
    shards = [slice(0, 2), slice(2, 4)]
    whole = rescaled_advantages(rewards, 1e-4, "mean", "batch")
    played = [rescaled_advantages(rewards[s], 1e-4, "mean", "batch",
                                  Played([moments(rewards[o]) for o in shards if o != s]).std) for s in shards]
    torch.testing.assert_close(torch.cat(played), whole, rtol=1e-12, atol=1e-12)
    assert torch.equal(World().std(rewards), rewards.std())  # one process: torch's std, bit for bit


def test_bad_input_is_refused_by_name():
    x, mask = batch(LENGTHS)
    counts = local_counts(mask).tolist()
    with pytest.raises(ValueError, match="how must be 'grpo', 'dapo' or 'dr_grpo'"):
        aggregate(x, mask, "bnpo", counts=counts)
    with pytest.raises(ValueError, match="dr_grpo needs max_len"):
        aggregate(x, mask, "dr_grpo", max_len=3, counts=counts)
    with pytest.raises(ValueError, match="must match"):
        aggregate(x[:, :, :3], mask, "grpo", counts=counts)
    with pytest.raises(ValueError, match="at least two values"):
        mean_std(moments(torch.tensor([1.0])))
    with pytest.raises(TypeError, match="per-token values must be"):
        whiten(x.detach().long(), mask, mean_std=World().mean_std)
