"""Data-parallel GRPO: per-prompt sampling that does not depend on the sharding, the world's bookkeeping, and the
strongest check there is: two processes under torchrun train the policy that one process trains on the same batch."""

import json
import os
import subprocess
import sys

import pytest
import torch

from minigrpo.lab.config import LabGRPOConfig
from minigrpo.lab.scale import PerPromptSampler, World, per_prompt_sampler
from minigrpo.lab.scale.sampling import prompt_seed


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
    assert per_prompt_sampler(world, LabGRPOConfig(), 1, 0, 4, "cpu") is None  # the loop's own generator samples
    record = {"step": 1, "reward_mean": 0.5}
    assert world.mean_metrics(record) is record
    assert World(rank=1, size=2).shard(list(range(8))) == ([4, 5, 6, 7], 4)
    with pytest.raises(ValueError, match="6 prompts per step do not split evenly over 4 processes"):
        World(rank=0, size=4).shard(list(range(6)))
    torchrun = World(torchrun=True)
    torchrun.check(LabGRPOConfig())
    torchrun.check(LabGRPOConfig(adv_scale="batch"))  # World.std spans the processes
    torchrun.check(LabGRPOConfig(reward_weights={"correct": 1.0, "format": 0.5}, multi_reward_norm="gdpo"))
    for bad, match in ((dict(supervision="monte_carlo"), "supervision='monte_carlo' is not supported under torchrun"),
                       (dict(random_reward=0.5), "random_reward is not supported"),
                       (dict(supervision="process", step_label_noise=0.1), "step_label_noise is not supported")):
        with pytest.raises(ValueError, match=match):
            torchrun.check(LabGRPOConfig(**bad))


def torchrun(processes, out, *flags, command="grpo", script=None):
    """``torchrun --standalone --nproc_per_node N -m minigrpo grpo`` on 4 prompts x 4 for 3 steps; its metrics.
    ``script``: a Python file torchrun runs instead of ``-m minigrpo`` (it calls minigrpo's main itself)."""
    target = [str(script)] if script else ["-m", "minigrpo"]
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
            *target, command, "--steps", "3", "--prompts-per-step", "4", "--group-size", "4",
            "--eval-every", "100", "--lr", "1e-3", "--out", str(out), *flags]
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if script:
        return done
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def assert_same_training(start, a, b):
    """Two runs' weights moved the same way: apart by far less than they moved from ``start``."""
    start, a, b = (weights(p) for p in (start, a, b))
    moved = torch.cat([(a[k] - start[k]).flatten() for k in a]).norm()
    apart = torch.cat([(a[k] - b[k]).flatten() for k in a]).norm()
    # Adam divides each gradient by its own running scale, so a gradient that is 0 up to rounding moves its weight by
    # up to lr either way: the two policies differ there by rounding made visible, far below how far they moved
    assert moved > 0.1 and apart < 1e-3 * moved, (moved, apart)


# Float32 rounding, in whatever order a CPU's vector units sum (AVX-512 or not, with FMA or not), moves each per-token
# term of the loss by a few eps of its own size, so the loss by a few eps of the terms' size. The loss itself is no
# scale: at mu = 1 it is the mean of ratio * A - beta k3 with ratio = 1 and advantages of mean about 0, a near-zero
# sum of terms of size about 1 (PPO's second step: 0.0012 from terms of 1.3), so a tolerance relative to it holds only
# on the CPUs whose rounding happens to be small. Three steps of propagated rounding measured 1 eps of the terms' size
# or less (1.6e-7 on an AMD EPYC without AVX-512, 2.4e-8 on one with it); 100 eps leaves room for other CPUs and is
# still far below what a wrong denominator or a per-process whitening moves.
ROUNDING = 100 * torch.finfo(torch.float32).eps


def loss_scale(record):
    """The size of the loss's per-token terms ratio * A_{i,t} - beta k3_{i,t}, with ratio = 1 at mu = 1: about
    mean |A| + mean k3 (beta <= 1; PPO has its KL in the advantages)."""
    return record["adv_abs_mean"] + record["kl"]


RUNS = {"grpo": ("grpo", ["--aggregation", "grpo"]), "dapo": ("grpo", ["--aggregation", "dapo"]),
        "dr_grpo": ("grpo", ["--aggregation", "dr_grpo"]),
        "batch std": ("grpo", ["--adv-scale", "batch"]),  # the std of every process's rewards (World.std)
        "ppo": ("ppo", [])}  # the critic's gradients averaged too, advantages whitened over every process's tokens


@pytest.mark.parametrize("run", RUNS)
def test_two_processes_train_the_policy_one_process_trains(tmp_path, run):
    command, flags = RUNS[run]
    one = torchrun(1, tmp_path / "one", *flags, command=command)
    two = torchrun(2, tmp_path / "two", *flags, command=command)
    # the same completions: the same rewards at every step, and the same objective to float rounding
    one, two = one[1:], two[1:]  # step 0 is the evaluation of the warm start
    assert [r["reward_mean"] for r in one] == [r["reward_mean"] for r in two]
    for a, b in zip(one, two):
        assert abs(a["loss"] - b["loss"]) <= ROUNDING * loss_scale(a), (a["loss"], b["loss"], loss_scale(a))
    assert_same_training("data/warmstart.pt", tmp_path / "one/policy.pt", tmp_path / "two/policy.pt")
    if command == "ppo":  # the critic starts as the warm start's body (and a zero value head)
        start = weights("data/warmstart.pt")
        a, b = (weights(tmp_path / f"{n}/critic.pt") for n in ("one", "two"))
        body = [k for k in a if k.removeprefix("body.") in start]
        moved = torch.cat([(a[k] - start[k.removeprefix("body.")]).flatten() for k in body]).norm()
        apart = torch.cat([(a[k] - b[k]).flatten() for k in a]).norm()
        assert body and moved > 0.1 and apart < 1e-3 * moved, (moved, apart)


STOP_AT_STEP_3 = """
import sys
from minigrpo.lab.cli import main
from minigrpo.lab.runs import Checkpoints

done = Checkpoints.step_done


def stop_after_step_3(self, record, state):  # every process stops there, as a job killed by its scheduler
    done(self, record, state)
    if record["step"] == 3:
        raise KeyboardInterrupt


Checkpoints.step_done = stop_after_step_3
sys.exit(main(sys.argv[1:]))
"""


def test_a_two_process_run_stopped_and_resumed_ends_where_an_unstopped_one_ends(tmp_path):
    script = tmp_path / "stopped.py"
    script.write_text(STOP_AT_STEP_3)
    steps = ["--steps", "4", "--save-every", "2"]
    stopped = torchrun(2, tmp_path / "run", *steps, script=script)
    assert stopped.returncode != 0 and (tmp_path / "run.partial" / "checkpoint.pt").exists()
    resumed = torchrun(2, tmp_path / "run", *steps, "--resume")  # process 0 reads the checkpoint, 1 gets it from 0
    straight = torchrun(2, tmp_path / "straight", *steps)
    strip = lambda records: [{k: v for k, v in r.items() if k != "wall_s"} for r in records]  # noqa: E731
    assert [r["step"] for r in resumed] == [0, 1, 2, 3, 4] and strip(resumed) == strip(straight)
    a, b = weights(tmp_path / "straight/policy.pt"), weights(tmp_path / "run/policy.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
