"""The bench's settings and the run of its four parts; the dict that bench.json holds."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict
from pathlib import Path

from ..config import BenchConfig, LabGRPOConfig
from .training import grpo_vs_ppo


def run_bench(init: str, data: str, cfg: BenchConfig) -> dict:
    """All four parts; the dict that bench.json holds."""
    # The training processes go first: on Linux a child's peak-memory counter starts from its
    # parent's peak, so the parent must not have generated anything yet.
    load_at_start = _load_average()
    training = grpo_vs_ppo(init, data, cfg.steps, cfg.repeats, cfg.prompts_per_step, cfg.group_size, cfg.device)

    import torch

    from ...checkpoint import load_checkpoint
    from ...grpo import sample_group
    from ...task import load_split
    from ..runs import resolve_device
    from .flops import achieved_flops
    from .generation import generation_throughput

    device = resolve_device(cfg.device)
    policy, _ = load_checkpoint(init, device=device)
    problems = load_split("train", data)[: cfg.prompts_per_step]
    rl = LabGRPOConfig()  # sampling and objective settings of a default GRPO step
    generation = [generation_throughput(policy, problems, G, rl.max_new_tokens, rl.temperature, cfg.timing_repeats)
                  for G in (cfg.group_size, cfg.large_group_size)]
    group = sample_group(policy, problems, cfg.group_size, rl.max_new_tokens, rl.temperature,
                         torch.Generator(device=device).manual_seed(rl.seed))
    flops = achieved_flops(policy, group, rl, cfg.matmul_size, cfg.timing_repeats)
    machine = {**describe_machine(device), "load_average_1min": [load_at_start, _load_average()]}
    return {"machine": machine, "settings": asdict(cfg), "generation": generation,
            "grpo_step_phases": training.pop("grpo_step_phases"),
            "grpo_fast_step_phases": training.pop("grpo_fast_step_phases"), "grpo_vs_ppo": training, "flops": flops}


def _load_average() -> float | None:
    """Runnable processes averaged over the last minute. At the start it is other people's load; at the
    end the bench adds about its thread count, so much more than that means it shared the machine."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def describe_machine(device) -> dict:
    """The processor (or GPU), core and thread counts, and versions: what the numbers were taken on."""
    import torch

    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").is_file():
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return {
        "cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch": torch.__version__, "python": platform.python_version(), "os": platform.platform(),
    }


