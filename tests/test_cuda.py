"""The same code on a CUDA GPU: skipped without one (CI has none), run by hand where there is one.

A GPU rounds differently from a CPU (other kernels, other summation orders), so these compare to float tolerance,
never bit for bit; and its random numbers differ, so a run is compared by what it computes, not by what it samples.
"""

import json
import subprocess
import sys

import pytest
import torch

from minigrpo.checkpoint import load_checkpoint
from minigrpo.config import GRPOConfig, PPOConfig
from minigrpo.grpo import sample_group, step1_sampling
from minigrpo.grpo.trainer import train_grpo
from minigrpo.lab.config import LabGRPOConfig, LabPPOConfig
from minigrpo.lab.loop import train
from minigrpo.lab.scale import fast
from minigrpo.ppo.trainer import train_ppo
from minigrpo.task import load_split

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def on_cuda(group):
    """The same Group with every tensor on the GPU."""
    return type(group)(**{k: v.cuda() if torch.is_tensor(v) else v for k, v in vars(group).items()})


@cuda
@pytest.mark.parametrize("path", [step1_sampling, fast], ids=["step1", "fast"])
def test_the_log_probs_of_a_group_are_the_cpus_to_float_tolerance(path):
    policy, _ = load_checkpoint("data/warmstart.pt")
    group = sample_group(policy, load_split("train")[:8], 4, 32, 1.0, torch.Generator().manual_seed(0))
    on_gpu, _ = load_checkpoint("data/warmstart.pt", device="cuda")
    moved = on_cuda(group)
    cpu, gpu = step1_sampling.group_logprobs(policy, group, 0.7), path.group_logprobs(on_gpu, moved, 0.7).cpu()
    torch.testing.assert_close(gpu[group.mask], cpu[group.mask], rtol=1e-4, atol=1e-4)
    assert torch.allclose(moved.old_logp.cpu()[group.mask], group.old_logp[group.mask])


def short_run(trainer, cfg):
    policy, _ = load_checkpoint("data/warmstart.pt", device="cuda")
    records = []
    trainer(policy, cfg, load_split("train"), load_split("test")[:50], log=records.append, progress=False)
    assert [r["step"] for r in records] == [0, 1, 2, 3]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in records[1:])
    assert next(policy.parameters()).is_cuda


SHORT = dict(steps=3, prompts_per_step=8, group_size=4, eval_every=100, device="cuda")


@cuda
@pytest.mark.parametrize("trainer, cfg", [
    (train_grpo, GRPOConfig(**SHORT)),
    (train_grpo, GRPOConfig(**SHORT, supervision="process")),
    (train_ppo, PPOConfig(**SHORT)),
    (train, LabGRPOConfig(**SHORT, fast=True, aggregation="dapo", clip_eps_high=0.28)),
    (train, LabGRPOConfig(**SHORT, supervision="monte_carlo", mc_samples=2)),
    (train, LabPPOConfig(**SHORT, fast=True)),
], ids=["grpo", "grpo-process", "ppo", "lab-grpo-fast-dapo", "lab-vineppo", "lab-ppo-fast"])
def test_a_short_run_on_cuda_trains(trainer, cfg):
    short_run(trainer, cfg)


@cuda
def test_the_bench_reports_peak_cuda_memory():
    argv = [sys.executable, "-m", "minigrpo.lab.bench.training", "grpo", "data/warmstart.pt", "data", "3", "8", "4",
            "cuda"]
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["peak_cuda_mib"] > 0
