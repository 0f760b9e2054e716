"""GRPO, PPO, VinePPO and GRPO --fast training steps side by side, each in a fresh process (bench parts b and c).

Each method runs a few steps of the lab's loop (``lab/loop.py``, what ``python -m minigrpo grpo`` and ``ppo`` train
with) at the same batch in its own process (so peak memory is its own), the four alternating so that a change in the
machine's load hits all. VinePPO is GRPO's loop with ``supervision="monte_carlo"`` (K = mc_samples continuations per
state between steps): its extra cost is sampling. Reported: medians per kind and the PPO / GRPO, VinePPO / GRPO and
--fast / GRPO ratios (time per step, peak memory, parameters held), and GRPO's step split into phases, timed from
outside the loop (``phases.py``), on today's path and on --fast (``lab/scale/fast.py``: the same numbers from less
work). Machines are shared and noisy: compare the ratios measured in one run, not absolute numbers across runs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from ..config import LabGRPOConfig, LabPPOConfig
from .phases import PHASES, step_phases

KINDS = ("grpo", "ppo", "vineppo", "grpo_fast")  # GRPO first: the others are reported as ratios to it


def _peak_rss_mib() -> float:
    import resource  # Unix only: imported here so that the rest of minigrpo loads on Windows

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def run_child(kind: str, init: str, data: str, steps: int, prompts_per_step: int, group_size: int, device: str) -> dict:
    """Inside a fresh process: ``steps`` steps of the lab's loop as ``kind`` (one of KINDS); times, peak memory,
    parameters held."""
    import torch

    from ...checkpoint import load_checkpoint
    from ...evaluate import count_parameters
    from ...task import load_split
    from ..loop import train as train_loop
    from ..runs import resolve_device
    from .phases import PhaseTimer

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    dev = resolve_device(device)
    policy, _ = load_checkpoint(init, device=dev)
    train = load_split("train", data)
    settings = dict(steps=steps, prompts_per_step=prompts_per_step, group_size=group_size, eval_every=10**9,
                    device=device)
    records = []
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rss_before = _peak_rss_mib()
    if kind == "ppo":
        critic = train_loop(policy, LabPPOConfig(**settings), train, train[:8], log=records.append, progress=False)
    else:  # GRPO's steps split into phases, timed from outside the loop
        timer = PhaseTimer(dev, log=records.append)
        cfg = LabGRPOConfig(**settings, supervision="monte_carlo" if kind == "vineppo" else "outcome",
                            fast=kind == "grpo_fast")
        with timer.patched():
            critic = train_loop(policy, cfg, train, train[:8], log=timer.log, progress=False)
    held = {"policy": count_parameters(policy), "reference": count_parameters(policy),
            "critic": count_parameters(critic) if critic is not None else 0}
    timed = [r for r in records if "wall_s" in r][1:]  # the first step warms up
    return {
        "kind": kind,
        "step_s": statistics.median(r["wall_s"] for r in timed),
        "steps": [{k: r[k] for k in ("wall_s", *PHASES) if k in r} for r in timed],
        "peak_rss_mib": _peak_rss_mib(),
        "rss_growth_mib": _peak_rss_mib() - rss_before,
        "peak_cuda_mib": torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else None,
        "parameters_held": held,
        "reward_mean": statistics.mean(r["reward_mean"] for r in records if "reward_mean" in r),
    }


def grpo_vs_ppo(init: str, data: str, steps: int, repeats: int, prompts_per_step: int, group_size: int,
                device: str) -> dict:
    """Alternate the KINDS' child processes ``repeats`` times; medians per kind, ratios to GRPO."""
    if steps < 2 or repeats < 1:
        raise ValueError(f"need steps >= 2 (the first is not timed) and repeats >= 1, got {steps} and {repeats}")
    runs = {kind: [] for kind in KINDS}
    for _ in range(repeats):
        for kind in runs:
            args = [sys.executable, "-m", "minigrpo.lab.bench.training", kind, init, data, str(steps),
                    str(prompts_per_step), str(group_size), device]
            child = subprocess.run(args, capture_output=True, text=True)
            if child.returncode != 0:
                raise ValueError(f"the {kind} benchmark process failed:\n{child.stderr.strip()[-2000:]}")
            runs[kind].append(json.loads(child.stdout.strip().splitlines()[-1]))
    summary = {}
    for kind, results in runs.items():
        summary[kind] = {
            "step_s": statistics.median(r["step_s"] for r in results),
            "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in results),
            "rss_growth_mib": statistics.median(r["rss_growth_mib"] for r in results),
            "parameters_held": sum(results[0]["parameters_held"].values()),
        }
        if results[0]["peak_cuda_mib"] is not None:
            summary[kind]["peak_cuda_mib"] = statistics.median(r["peak_cuda_mib"] for r in results)
    for kind in KINDS[1:]:
        summary[f"{kind}_over_grpo"] = {k: summary[kind][k] / summary["grpo"][k] if summary["grpo"][k] else None
                                        for k in summary["grpo"]}
    for kind in ("grpo", "grpo_fast"):
        summary[f"{kind}_step_phases"] = step_phases([s for r in runs[kind] for s in r["steps"]])
    summary["batch"] = {"prompts_per_step": prompts_per_step, "group_size": group_size, "steps": steps,
                        "mc_samples": LabGRPOConfig.mc_samples,
                        "repeats": repeats, "device": device}
    return summary


if __name__ == "__main__":  # a child process of grpo_vs_ppo
    kind, init, data, steps, prompts_per_step, group_size, device = sys.argv[1:]
    print(json.dumps(run_child(kind, init, data, int(steps), int(prompts_per_step), int(group_size), device)))
