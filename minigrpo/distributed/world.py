"""The processes of a data-parallel run, and the three things they share: counts, gradients and metrics.

``torchrun --standalone --nproc_per_node R -m minigrpo grpo ...`` starts R copies of the command, each with RANK,
WORLD_SIZE and a rendezvous address in its environment; ``World.from_env`` joins them into one process group (gloo
on the CPU, NCCL on GPUs). Without torchrun there is one process and nothing to join: every call here is then a
no-op, so the single-process loop pays nothing for it.

Each process draws the same B prompts (same seed), keeps its 1/R of them (``shard``), samples and scores them, and
computes its loss; then the gradients are averaged across processes (``average_gradients``: an all-reduce, as
DistributedDataParallel does during backward), so every process takes the same optimizer step and the R copies of
the policy stay equal. Only process 0 evaluates, logs and saves.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

# Switches whose numbers span the whole batch or come from the run's one generator: under torchrun they would need
# more than this module shares (the batch's std across processes; a draw per prompt), so they are refused there.
NOT_YET = {"adv_scale": "batch", "multi_reward_norm": "gdpo", "supervision": "monte_carlo"}
NOT_YET_NONZERO = ("random_reward", "step_label_noise")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    torchrun: bool = False  # started by torchrun: sampling per prompt, losses over the whole batch, even for R = 1

    @classmethod
    def from_env(cls, device: torch.device) -> World:
        """Join torchrun's process group if this process was started by it; else a world of one."""
        if "WORLD_SIZE" not in os.environ:
            return cls()
        if device.type == "cuda":  # one GPU per process: torchrun's LOCAL_RANK says which
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            atexit.register(cls._leave)
        return cls(dist.get_rank(), dist.get_world_size(), torchrun=True)

    @staticmethod
    def _leave() -> None:
        """At exit, wait for every process before leaving the group: a process that leaves while process 0 still
        evaluates and saves would tear down the connections under it (gloo aborts)."""
        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    def check(self, cfg) -> None:
        """Refuse, before anything runs, a config this module cannot split over processes yet."""
        if not self.torchrun:
            return
        for name, value in NOT_YET.items():
            if getattr(cfg, name) == value:
                raise ValueError(f"{name}={value!r} is not supported under torchrun yet (it needs statistics of the "
                                 "whole batch across processes)")
        for name in NOT_YET_NONZERO:
            if getattr(cfg, name):
                raise ValueError(f"{name} is not supported under torchrun yet (its draws come from the run's one "
                                 "generator, not from one per prompt)")

    @property
    def main(self) -> bool:
        """Process 0, the one that evaluates, logs and saves."""
        return self.rank == 0

    def shard(self, items: list) -> tuple[list, int]:
        """This process's contiguous 1/R of ``items`` and the global index of its first one."""
        if len(items) % self.size:
            raise ValueError(f"{len(items)} prompts per step do not split evenly over {self.size} processes")
        n = len(items) // self.size
        return items[self.rank * n:(self.rank + 1) * n], self.rank * n

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of ``tensor`` over every process (all-reduce), in place; itself in a world of one."""
        if self.size > 1:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def average_gradients(self, model: torch.nn.Module) -> None:
        """grad <- 1/R sum_r grad_r for every parameter: what DistributedDataParallel's backward does."""
        if self.size == 1:
            return
        for p in model.parameters():
            if p.grad is not None:
                self.sum(p.grad).div_(self.size)

    def mean_metrics(self, record: dict) -> dict:
        """Every number of a step's record averaged over processes (each holds the same number of prompts)."""
        if self.size == 1:
            return record
        keys = [k for k, v in record.items() if isinstance(v, float) and k != "wall_s"]
        summed = self.sum(torch.tensor([record[k] for k in keys], dtype=torch.float64))
        return {**record, **{k: v / self.size for k, v in zip(keys, summed.tolist())}}
