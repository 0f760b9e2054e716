"""Side-by-side cost measurements, printed as a table and written as JSON.

GRPO vs PPO at the same batch: each algorithm runs a few steps in its own fresh
process (so peak memory is its own), the two alternating, and the table reports
medians and the PPO / GRPO ratio. Machines are shared and noisy: compare the
ratios measured in one run, not absolute numbers across runs.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
from pathlib import Path

from .config import GRPOConfig, PPOConfig


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def run_child(kind: str, init: str, data: str, steps: int, prompts_per_step: int, group_size: int, device: str) -> dict:
    """Inside a fresh process: ``steps`` steps of GRPO or PPO; times, peak memory, parameters held."""
    import torch

    from .checkpoint import load_checkpoint
    from .evaluate import count_parameters
    from .runtime import resolve_device
    from .task import load_split

    dev = resolve_device(device)
    policy, _ = load_checkpoint(init, device=dev)
    train = load_split("train", data)
    settings = dict(steps=steps, prompts_per_step=prompts_per_step, group_size=group_size, eval_every=10**9,
                    device=device)
    records = []
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rss_before = _peak_rss_mib()
    if kind == "grpo":
        from .grpo.trainer import train_grpo

        train_grpo(policy, GRPOConfig(**settings), train, train[:8], log=records.append, progress=False)
        held = {"policy": count_parameters(policy), "reference": count_parameters(policy), "critic": 0}
    else:
        from .ppo.trainer import train_ppo

        critic = train_ppo(policy, PPOConfig(**settings), train, train[:8], log=records.append, progress=False)
        held = {"policy": count_parameters(policy), "reference": count_parameters(policy),
                "critic": count_parameters(critic)}
    step_seconds = [r["wall_s"] for r in records if "wall_s" in r][1:]  # the first step warms up
    return {
        "kind": kind,
        "step_s": statistics.median(step_seconds),
        "peak_rss_mib": _peak_rss_mib(),
        "rss_growth_mib": _peak_rss_mib() - rss_before,
        "peak_cuda_mib": torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else None,
        "parameters_held": held,
        "reward_mean": statistics.mean(r["reward_mean"] for r in records if "reward_mean" in r),
    }


def grpo_vs_ppo(init: str, data: str, steps: int, repeats: int, prompts_per_step: int, group_size: int,
                device: str) -> dict:
    """Alternate GRPO and PPO child processes ``repeats`` times; medians per kind and PPO / GRPO ratios."""
    runs = {"grpo": [], "ppo": []}
    for _ in range(repeats):
        for kind in runs:
            args = [sys.executable, "-m", "minigrpo.bench", kind, init, data, str(steps), str(prompts_per_step),
                    str(group_size), device]
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
    summary["ppo_over_grpo"] = {k: summary["ppo"][k] / summary["grpo"][k] if summary["grpo"][k] else None
                                for k in summary["grpo"]}
    summary["batch"] = {"prompts_per_step": prompts_per_step, "group_size": group_size, "steps": steps,
                        "repeats": repeats, "device": device}
    return summary


def format_table(summary: dict) -> str:
    rows = [("seconds per step", "step_s", "{:.3f}"), ("peak process memory (MiB)", "peak_rss_mib", "{:.0f}"),
            ("memory growth while training (MiB)", "rss_growth_mib", "{:.0f}"),
            ("parameters held (policy + reference + critic)", "parameters_held", "{:,}")]
    if "peak_cuda_mib" in summary["grpo"]:
        rows.append(("peak CUDA memory (MiB)", "peak_cuda_mib", "{:.0f}"))
    b = summary["batch"]
    lines = [f"GRPO vs PPO, {b['prompts_per_step']} prompts x {b['group_size']} completions, "
             f"median of {b['repeats']} alternating runs of {b['steps']} steps on {b['device']}",
             f"| {'':46} | {'GRPO':>10} | {'PPO':>10} | {'PPO / GRPO':>10} |",
             f"|{'-' * 48}|{'-' * 12}|{'-' * 12}|{'-' * 12}|"]
    for label, key, fmt in rows:
        ratio = summary["ppo_over_grpo"][key]
        lines.append(f"| {label:46} | {fmt.format(summary['grpo'][key]):>10} | {fmt.format(summary['ppo'][key]):>10} | "
                     f"{'-' if ratio is None else f'{ratio:.2f}':>10} |")
    return "\n".join(lines)


def write_json(summary: dict, out: str | Path) -> Path:
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    (path / "bench.json").write_text(json.dumps(summary, indent=2) + "\n")
    return path / "bench.json"


if __name__ == "__main__":  # a child process of grpo_vs_ppo
    kind, init, data, steps, prompts_per_step, group_size, device = sys.argv[1:]
    print(json.dumps(run_child(kind, init, data, int(steps), int(prompts_per_step), int(group_size), device)))
