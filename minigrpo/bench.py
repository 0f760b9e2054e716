"""``python -m minigrpo bench``: what a GRPO step costs, printed as one table and written as bench.json.

    (a) generation throughput with and without the KV cache        bench_generation.py
    (b) one GRPO step split into its phases                         bench_training.py
    (c) GRPO vs PPO at the same batch: time, memory, parameters     bench_training.py
    (d) FLOP/s of the training pass against the matmul rate         bench_flops.py

Everything is measured in one run on one machine, so the ratios (cache speed-up, PPO / GRPO,
fraction of the matmul rate) are what to compare across runs; absolute numbers move with the
machine and its load, which the table's first line records.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

from .bench_training import grpo_vs_ppo
from .config import DEVICES, GRPOConfig


@dataclass(frozen=True)
class BenchConfig:
    """What the bench measures and how often; the defaults take a few minutes on a 2-core CPU."""

    prompts_per_step: int = GRPOConfig.prompts_per_step  # B
    group_size: int = GRPOConfig.group_size  # G of the default batch
    large_group_size: int = 16  # a second G for the generation throughput
    steps: int = 6  # training steps per GRPO / PPO process (the first is not timed)
    repeats: int = 3  # alternating GRPO / PPO processes per kind
    timing_repeats: int = 3  # timings whose median is reported: cached generation, fwd/bwd, matmul
    matmul_size: int = 1024
    device: str = "cpu"

    def __post_init__(self):
        for name in ("prompts_per_step", "group_size", "large_group_size", "repeats", "timing_repeats",
                     "matmul_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.group_size < 2 or self.steps < 2:
            raise ValueError(f"group_size and steps must be at least 2, got {self.group_size} and {self.steps}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")


# A smoke test in seconds: every part runs, no number means anything.
QUICK = BenchConfig(prompts_per_step=2, group_size=2, large_group_size=4, steps=2, repeats=1, timing_repeats=1,
                    matmul_size=64)


def run_bench(init: str, data: str, cfg: BenchConfig) -> dict:
    """All four parts; the dict that bench.json holds."""
    # The training processes go first: on Linux a child's peak-memory counter starts from its
    # parent's peak, so the parent must not have generated anything yet.
    load_at_start = _load_average()
    training = grpo_vs_ppo(init, data, cfg.steps, cfg.repeats, cfg.prompts_per_step, cfg.group_size, cfg.device)

    import torch

    from .bench_flops import achieved_flops
    from .bench_generation import generation_throughput
    from .checkpoint import load_checkpoint
    from .grpo import sample_group
    from .runtime import resolve_device
    from .task import load_split

    device = resolve_device(cfg.device)
    policy, _ = load_checkpoint(init, device=device)
    problems = load_split("train", data)[: cfg.prompts_per_step]
    rl = GRPOConfig()  # sampling and objective settings of a default GRPO step
    generation = [generation_throughput(policy, problems, G, rl.max_new_tokens, rl.temperature, cfg.timing_repeats)
                  for G in (cfg.group_size, cfg.large_group_size)]
    group = sample_group(policy, problems, cfg.group_size, rl.max_new_tokens, rl.temperature,
                         torch.Generator(device=device).manual_seed(rl.seed))
    flops = achieved_flops(policy, group, rl, cfg.matmul_size, cfg.timing_repeats)
    machine = {**describe_machine(device), "load_average_1min": [load_at_start, _load_average()]}
    return {"machine": machine, "settings": asdict(cfg), "generation": generation,
            "grpo_step_phases": training.pop("grpo_step_phases"), "grpo_vs_ppo": training, "flops": flops}


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


PHASE_LABELS = {
    "sample_s": "sampling B x G completions (step 1)",
    "score_s": "rewards and advantages (steps 2-3)",
    "ref_s": "reference log-probs (for step 5)",
    "fwd_bwd_s": "policy forward and backward (steps 4-5)",
    "opt_s": "gradient clipping and optimizer",
    "other_s": "other (metrics, the loop itself)",
}


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.0f}" if seconds >= 0.01 else f"{seconds * 1e3:.2f}"


def _row(cells: list[str], widths: list[int]) -> str:
    return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return [_row(header, widths), rule, *(_row(r, widths) for r in rows)]


def format_table(summary: dict) -> str:
    """The bench as text: a line on the machine, then one titled markdown table per part."""
    m, s = summary["machine"], summary["settings"]
    start, end = m["load_average_1min"]
    load = "" if start is None else f"; 1-minute load average {start:.2f} at the start, {end:.2f} at the end"
    lines = [f"minigrpo bench on {m['gpu'] or m['cpu']} ({m['cpu_count']} CPU cores, torch {m['torch']} with "
             f"{m['torch_threads']} threads{load})"]
    if start is not None and start >= m["cpu_count"]:
        lines.append("warning: the machine was busy when the bench started; threads that wait for a core slow "
                     "every small operation, so re-run it on a quiet machine before trusting the numbers")
    lines.append("")

    lines.append(f"(a) generation of up to {summary['generation'][0]['max_new_tokens']} new tokens: completion "
                 f"tokens per second (cache: median of {s['timing_repeats']}; no cache: once)")
    lines += _table(["batch", "tokens", "KV cache", "no cache", "speed-up"], [
        [f"{g['prompts']} prompts x G = {g['group_size']}", f"{g['cached_tokens']:,}",
         f"{g['cached_tokens_per_s']:,.0f}", f"{g['uncached_tokens_per_s']:,.0f}", f"{g['speedup']:.1f}x"]
        for g in summary["generation"]])

    phases = summary["grpo_step_phases"]
    lines += ["", f"(b) one GRPO step, {s['prompts_per_step']} prompts x G = {s['group_size']}: median of each phase"]
    if phases is None:
        lines.append("the trainer's step records carry no phase timings")
    else:
        rows = [[PHASE_LABELS[k], _ms(p["s"]), f"{p['percent']:.0f}%"] for k, p in phases["parts"].items()]
        lines += _table(["phase", "ms", "share"], [*rows, ["total", _ms(phases["step_s"]), "100%"]])

    v, b = summary["grpo_vs_ppo"], summary["grpo_vs_ppo"]["batch"]
    lines += ["", f"(c) GRPO vs PPO at the same batch: median of {b['repeats']} alternating processes of "
                  f"{b['steps']} steps each (the first not timed)"]
    rows = [("seconds per step", "step_s", "{:.3f}"), ("peak process memory (MiB)", "peak_rss_mib", "{:.0f}"),
            ("memory growth while training (MiB)", "rss_growth_mib", "{:.0f}"),
            ("parameters held (policy + reference + critic)", "parameters_held", "{:,}")]
    if "peak_cuda_mib" in v["grpo"]:
        rows.append(("peak CUDA memory (MiB)", "peak_cuda_mib", "{:.0f}"))
    lines += _table(["", "GRPO", "PPO", "PPO / GRPO"], [
        [label, fmt.format(v["grpo"][key]), fmt.format(v["ppo"][key]),
         "-" if v["ppo_over_grpo"][key] is None else f"{v['ppo_over_grpo'][key]:.2f}"] for label, key, fmt in rows])

    f = summary["flops"]
    lines += ["", "(d) the training forward and backward against a dense matrix multiply, same process",
              "    (FLOPs counted from the model's shapes; formula in minigrpo/bench_flops.py)"]
    lines += _table(["", "FLOPs", "ms", "GFLOP/s"], [
        [f"training pass, {f['sequences']} sequences x {f['positions']} positions", f"{f['training_flops']:.3g}",
         _ms(f["fwd_bwd_s"]), f"{f['achieved_flop_per_s'] / 1e9:.3g}"],
        [f"float32 torch.mm, {f['matmul_size']} x {f['matmul_size']}", f"{2 * f['matmul_size'] ** 3:.3g}",
         _ms(2 * f["matmul_size"] ** 3 / f["matmul_flop_per_s"]), f"{f['matmul_flop_per_s'] / 1e9:.3g}"],
        ["training pass / matmul", "", "", f"{f['fraction_of_matmul']:.1%}"]])
    return "\n".join(lines)


def write_json(summary: dict, out: str | Path) -> Path:
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    (path / "bench.json").write_text(json.dumps(summary, indent=2) + "\n")
    return path / "bench.json"
