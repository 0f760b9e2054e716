"""The processes of a data-parallel run, and what they share: counts and batch statistics, gradients, metrics, and
the training state a resumed run starts from.

``torchrun --standalone --nproc_per_node R -m minigrpo grpo ...`` starts R copies of the command, each with RANK,
WORLD_SIZE and a rendezvous address in its environment; ``World.from_env`` joins them into one process group (gloo
on the CPU, NCCL on GPUs). Without torchrun there is one process and nothing to join: every call here is then a
no-op, so the single-process loop pays nothing for it.

Each process draws the same B prompts (same seed), keeps its 1/R of them (``shard``), samples and scores them, and
computes its loss; then the gradients are averaged across processes (``average_gradients``: an all-reduce, as
DistributedDataParallel does during backward), so every process takes the same optimizer step and the R copies of
the policy stay equal. Only process 0 evaluates, logs and saves; a resumed run reads its checkpoint in process 0,
which sends the state to the others (``broadcast_state``).
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .normalizers import mean_std, moments

# Switches whose draws come from the run's one generator: under torchrun they would need a generator per prompt for
# their own draws too (sampling.py has one for the completions only), so they are refused there.
NOT_YET = {"supervision": "monte_carlo"}
NOT_YET_NONZERO = ("random_reward", "step_label_noise", "critic_pretrain_steps")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    torchrun: bool = False  # started by torchrun: sampling per prompt, losses over the whole batch, even for R = 1
    device: str = "cpu"  # where the all-reduces run: NCCL reduces CUDA tensors only

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
        return cls(dist.get_rank(), dist.get_world_size(), torchrun=True, device=str(device))

    @staticmethod
    def _leave() -> None:
        """At exit, leave the group without waiting: a process that stopped on an error must not wait for the others
        (they are in a collective it will never join; leaving breaks their connections, and they stop too)."""
        if dist.is_initialized():
            dist.destroy_process_group()

    def finish(self) -> None:
        """Wait for every process at the end of a run: one that left while process 0 still evaluated and saved
        would tear down the connections under it (gloo aborts)."""
        if self.torchrun and dist.is_initialized():
            dist.barrier()

    def check(self, cfg) -> None:
        """Refuse, before anything runs, a config this module cannot split over processes yet."""
        if not self.torchrun:
            return
        for name, value in NOT_YET.items():
            if getattr(cfg, name, None) == value:
                raise ValueError(f"{name}={value!r} is not supported under torchrun yet (its draws come from the "
                                 "run's one generator, not from one per prompt)")
        for name in NOT_YET_NONZERO:
            if getattr(cfg, name, 0):
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
            here = tensor.to(self.device)
            dist.all_reduce(here, op=dist.ReduceOp.SUM)
            tensor.copy_(here)
        return tensor

    def std(self, x: torch.Tensor) -> torch.Tensor:
        """The sample std of x's entries over every process: ``x.std()`` in one process; under torchrun, from the
        count, sum and sum of squares of each process (normalizers.moments), summed."""
        if not self.torchrun:
            return x.std()
        return torch.tensor(mean_std(self.sum(moments(x)))[1], dtype=x.dtype, device=x.device)

    def mean_std(self, values: torch.Tensor) -> tuple:
        """Mean and sample std of ``values`` over every process (``masked.whiten``'s statistics): this process's
        ``values.mean(), values.std()`` in one; under torchrun, from the moments of each process, summed."""
        if not self.torchrun:
            return values.mean(), values.std()
        return mean_std(self.sum(moments(values)))

    def broadcast_state(self, state) -> None:
        """Process 0's training state (resume.TrainingState) to every other process: a run resumed under torchrun
        reads its checkpoint in process 0 only, and the others start from what it read."""
        if self.size == 1:
            return
        box = [state.state_dict() if self.main else None]
        dist.broadcast_object_list(box, src=0)
        if not self.main:
            state.load_state_dict(box[0])

    def average_gradients(self, model: torch.nn.Module) -> None:
        """grad <- 1/R sum_r grad_r for every parameter: what DistributedDataParallel's backward does."""
        if self.size == 1:
            return
        for p in model.parameters():
            if p.grad is not None:
                self.sum(p.grad).div_(self.size)

    def mean_metrics(self, record: dict) -> dict:
        """Every number of a step's record averaged over processes (each holds the same number of prompts).

        For a mean over completions (reward_mean, kl, the loss) that is the whole batch's; for a ratio of two
        batch statistics (explained variance, clip_frac over tokens) it is the mean of the shards' values, which is
        close to the batch's but not equal to it. Only the loss and the gradients have to be exact."""
        if self.size == 1:
            return record
        keys = [k for k, v in record.items() if isinstance(v, float) and k != "wall_s"]
        summed = self.sum(torch.tensor([record[k] for k in keys], dtype=torch.float64))
        return {**record, **{k: v / self.size for k, v in zip(keys, summed.tolist())}}
