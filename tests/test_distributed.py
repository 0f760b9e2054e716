"""Data-parallel GRPO: per-prompt sampling that does not depend on the sharding, the world's bookkeeping, and the
strongest check there is: two processes under torchrun train the policy that one process trains on the same batch."""

import json
import os
import subprocess
import sys

import pytest
import torch

from minigrpo.config import GRPOConfig
from minigrpo.distributed import PerPromptSampler, World, per_prompt_sampler
from minigrpo.distributed.sampling import prompt_seed


def probs_for(B, G, V=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    p = torch.rand(B * G, V, generator=gen, dtype=torch.float64)
    p[:, 1] = 0.0  # a token of probability 0 is never drawn
    return p / p.sum(-1, keepdim=True)


def test_a_prompt_draws_the_same_tokens_whatever_shard_it_is_in():
    probs = probs_for(4, 3)
    whole = PerPromptSampler(seed=7, step=5, indices=[0, 1, 2, 3], group_size=3)(probs)
    halves = torch.cat([PerPromptSampler(7, 5, [0, 1], 3)(probs[:6]), PerPromptSampler(7, 5, [2, 3], 3)(probs[6:])])
    assert torch.equal(whole, halves)
    assert not torch.equal(whole, PerPromptSampler(7, 6, [0, 1, 2, 3], 3)(probs))  # another step, other tokens
    assert prompt_seed(7, 5, 2) != prompt_seed(7, 5, 3) != prompt_seed(7, 6, 2)


def test_inverting_the_cdf_draws_each_token_with_its_probability():
    probs = probs_for(1, 20_000, V=4, seed=1)[:1].expand(20_000, 4)  # one distribution, 20,000 draws
    tokens = PerPromptSampler(0, 1, [0], 20_000)(probs)
    freq = torch.bincount(tokens, minlength=4).double() / 20_000
    se = (probs[0] * (1 - probs[0]) / 20_000).sqrt()
    assert ((freq - probs[0]).abs() <= 4 * se + 1e-12).all() and freq[1] == 0
    with pytest.raises(ValueError, match="expected 1 prompts x 20000"):
        PerPromptSampler(0, 1, [0], 20_000)(probs[:10])


def test_a_world_of_one_changes_nothing_and_torchrun_refuses_what_it_cannot_split():
    world = World()
    assert world.main and world.shard([1, 2, 3]) == ([1, 2, 3], 0)
    assert per_prompt_sampler(world, GRPOConfig(), 1, 0, 4, "cpu") is None  # the loop's own generator samples
    record = {"step": 1, "reward_mean": 0.5}
    assert world.mean_metrics(record) is record
    assert World(rank=1, size=2).shard(list(range(8))) == ([4, 5, 6, 7], 4)
    with pytest.raises(ValueError, match="6 prompts per step do not split evenly over 4 processes"):
        World(rank=0, size=4).shard(list(range(6)))
    torchrun = World(torchrun=True)
    torchrun.check(GRPOConfig())
    for bad, match in ((dict(adv_scale="batch"), "adv_scale='batch' is not supported under torchrun"),
                       (dict(supervision="monte_carlo"), "supervision='monte_carlo'"),
                       (dict(random_reward=0.5), "random_reward is not supported")):
        with pytest.raises(ValueError, match=match):
            torchrun.check(GRPOConfig(**bad))


def torchrun(processes, out, *flags):
    """``torchrun --standalone --nproc_per_node N -m minigrpo grpo`` on 4 prompts x 4 for 3 steps; its metrics."""
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
            "-m", "minigrpo", "grpo", "--steps", "3", "--prompts-per-step", "4", "--group-size", "4",
            "--eval-every", "100", "--lr", "1e-3", "--out", str(out), *flags]
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.mark.parametrize("aggregation", ["grpo", "dapo", "dr_grpo"])
def test_two_processes_train_the_policy_one_process_trains(tmp_path, aggregation):
    flags = ["--aggregation", aggregation]
    one, two = torchrun(1, tmp_path / "one", *flags), torchrun(2, tmp_path / "two", *flags)
    # the same completions: the same rewards at every step, and the same objective to float rounding
    one, two = one[1:], two[1:]  # step 0 is the evaluation of the warm start
    assert [r["reward_mean"] for r in one] == [r["reward_mean"] for r in two]
    assert [r["loss"] for r in one] == pytest.approx([r["loss"] for r in two], rel=1e-4, abs=1e-7)
    start, a, b = (weights(p) for p in ("data/warmstart.pt", tmp_path / "one/policy.pt", tmp_path / "two/policy.pt"))
    moved = torch.cat([(a[k] - start[k]).flatten() for k in a]).norm()
    apart = torch.cat([(a[k] - b[k]).flatten() for k in a]).norm()
    # Adam divides each gradient by its own running scale, so a gradient that is 0 up to rounding moves its weight by
    # up to lr either way: the two policies differ there by rounding made visible, far below how far they moved
    assert moved > 0.1 and apart < 1e-3 * moved
