"""The bench as text: one line on the machine, then one markdown table per part."""

from __future__ import annotations

import json
from pathlib import Path

PHASE_LABELS = {
    "sample_s": "sampling B x G completions (step 1)",
    "score_s": "rewards and advantages (steps 2-3)",
    "ref_s": "reference log-probs (for step 5)",
    "fwd_bwd_s": "policy forward and backward (steps 4-6)",
    "opt_s": "gradient clipping and optimizer",
    "other_s": "other (metrics, the loop itself)",
}


FLOP_PHASES = {
    "sampling": "sampling B x G completions",
    "reference": "reference log-probs (a forward pass)",
    "training": "policy forward and backward",
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

    phases, fast = summary["grpo_step_phases"], summary.get("grpo_fast_step_phases")
    lines += ["", f"(b) one GRPO step, {s['prompts_per_step']} prompts x G = {s['group_size']}: median of each phase, "
                  "today's path and --fast (minigrpo/lab/scale/fast.py)"]
    if phases is None:
        lines.append("the loop's step records carry no phase timings")
    else:
        rows = [[PHASE_LABELS[k], _ms(p["s"]), f"{p['percent']:.0f}%"] for k, p in phases["parts"].items()]
        rows.append(["total", _ms(phases["step_s"]), "100%"])
        header = ["phase", "ms", "share"]
        if fast is not None:
            header += ["--fast ms", "--fast / today"]
            times = [(fast["parts"][k]["s"], p["s"]) for k, p in phases["parts"].items()]
            for row, (f, t) in zip(rows, [*times, (fast["step_s"], phases["step_s"])]):
                row += [_ms(f), f"{f / t:.2f}"]
        lines += _table(header, rows)
        runs = summary["grpo_vs_ppo"]
        if "grpo_fast" in runs:
            lines.append(f"whole steps, as in (c): today {runs['grpo']['step_s']:.3f} s, --fast "
                         f"{runs['grpo_fast']['step_s']:.3f} s per step: --fast takes "
                         f"{runs['grpo_fast_over_grpo']['step_s']:.2f} of today's time")

    v, b = summary["grpo_vs_ppo"], summary["grpo_vs_ppo"]["batch"]
    lines += ["", f"(c) GRPO vs PPO vs VinePPO (K = {b.get('mc_samples', 4)}) at the same batch: median of "
                  f"{b['repeats']} alternating processes of {b['steps']} steps each (the first not timed)"]
    rows = [("seconds per step", "step_s", "{:.3f}"), ("peak process memory (MiB)", "peak_rss_mib", "{:.0f}"),
            ("memory growth while training (MiB)", "rss_growth_mib", "{:.0f}"),
            ("parameters held (policy + reference + critic)", "parameters_held", "{:,}")]
    if "peak_cuda_mib" in v["grpo"]:
        rows.append(("peak CUDA memory (MiB)", "peak_cuda_mib", "{:.0f}"))
    def ratio(kind, key):
        return "-" if v[f"{kind}_over_grpo"][key] is None else f"{v[f'{kind}_over_grpo'][key]:.2f}"

    lines += _table(["", "GRPO", "PPO", "VinePPO", "PPO / GRPO", "VinePPO / GRPO"], [
        [label, fmt.format(v["grpo"][key]), fmt.format(v["ppo"][key]), fmt.format(v["vineppo"][key]),
         ratio("ppo", key), ratio("vineppo", key)] for label, key, fmt in rows])

    f = summary["flops"]
    lines += ["", f"(d) each phase on one sampled batch ({f['sequences']} sequences, {f['positions']} positions at "
                  "most), today's path and --fast, against a dense matrix multiply in the same process",
              "    (FLOPs of the matrix multiplies each path computes, padding included; formulas in "
              "minigrpo/lab/bench/flops.py)"]
    rows = []
    for name, label in FLOP_PHASES.items():
        today, fast = f["phases"][name]["today"], f["phases"][name]["fast"]
        rows.append([label, f"{today['flops']:.3g}", f"{fast['flops']:.3g}", _ms(today["s"]), _ms(fast["s"]),
                     f"{fast['s'] / today['s']:.2f}", f"{today['fraction_of_matmul']:.1%}",
                     f"{fast['fraction_of_matmul']:.1%}"])
    mm = 2 * f["matmul_size"] ** 3
    rows.append([f"float32 torch.mm, {f['matmul_size']} x {f['matmul_size']}", f"{mm:.3g}", "",
                 _ms(mm / f["matmul_flop_per_s"]), "", "", f"{f['matmul_flop_per_s'] / 1e9:.3g} GFLOP/s", ""])
    lines += _table(["phase", "FLOPs", "--fast FLOPs", "ms", "--fast ms", "--fast / today", "of the matmul rate",
                     "--fast, of the matmul rate"], rows)
    if "least_step_flops" in f:
        least_s, today_s = f["least_step_flops"] / f["matmul_flop_per_s"], v["grpo"]["step_s"]
        lines.append(f"a step's least work (sampling as --fast, scoring with no padded position): "
                     f"{f['least_step_flops']:.3g} FLOPs, {_ms(least_s)} ms at the matmul rate; half of today's step "
                     f"(c) is {_ms(today_s / 2)} ms, so twice as fast needs the whole step at "
                     f"{least_s / (today_s / 2):.0%} of the matmul rate or more")
    return "\n".join(lines)


def write_json(summary: dict, out: str | Path) -> Path:
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    (path / "bench.json").write_text(json.dumps(summary, indent=2) + "\n")
    return path / "bench.json"
