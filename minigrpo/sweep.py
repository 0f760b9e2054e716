"""Several methods times several seeds, one training process at a time, resumable, summarized in one file.

``python -m minigrpo sweep credit --seeds 0 1 2`` trains every run of the plan that has no
``policy.pt`` yet (a run stopped half way resumes from its last checkpoint), each in its own folder
``runs/sweeps/<plan>/<name>/seed<N>``, evaluates it once more (``eval --samples 8``: greedy and
process-verified accuracy, sampled pass@1/4/8, into its ``eval.json``), and rewrites the summary JSON
from every finished run. So a sweep of hours survives being stopped: run the same command again. A run
the summary already holds is not trained again either, so a committed summary resumes on a new machine.

The seed is the RL run's (prompts drawn, completions sampled); every run starts from the same
warm start, so the seeds measure how much one training run varies, not how much warm starts do.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .runtime import CHECKPOINT, read_metrics

# name -> (command, flags). The order is the order runs are trained, seed after seed.
PLANS = {
    "credit": {
        "grpo_outcome": ("grpo", []),
        "grpo_process": ("grpo", ["--supervision", "process"]),
        "ppo": ("ppo", []),
        "vineppo": ("grpo", ["--supervision", "monte_carlo"]),
        "grpo_process_mean": ("grpo", ["--supervision", "process", "--process-scale", "mean"]),
    },
    "step_label_noise": {
        f"grpo_process_noise{p}": ("grpo", ["--supervision", "process", "--step-label-noise", str(p)])
        for p in (0.1, 0.2, 0.3)
    },
    # GRPO on learned reward models; the verifiers they stand in for are the credit plan's grpo_outcome and
    # grpo_process, a verifier that errs is step_label_noise's
    "reward_models": {
        "grpo_orm": ("grpo", ["--reward-model", "data/orm.pt"]),
        "grpo_prm": ("grpo", ["--supervision", "process", "--reward-model", "data/prm.pt"]),
    },
    # the paper's k3 is the credit plan's grpo_outcome
    "kl_estimators": {f"kl_{name}": ("grpo", ["--kl-estimator", name]) for name in ("k2", "k3_ratio", "k1_reward")},
}
SERIES = ("reward_mean", "learned_reward_mean", "zero_spread_frac", "adv_nonzero_frac", "adv_abs_mean", "kl",
          "clip_frac", "entropy", "explained_variance", "value_loss")
WINDOW = 10  # steps averaged into one point of a summary's series
EVAL = ["--samples", "8", "--k", "1", "4", "8", "--seed", "0"]  # the final evaluation of every finished run


def summarize(run: Path) -> dict:
    """One finished run's record: its flags, accuracy at every evaluation, wall time (summed, and the median
    step's), and its metrics averaged over windows of ``WINDOW`` steps (and over the whole run)."""
    records = read_metrics(run / "metrics.jsonl")
    config = json.loads((run / "config.json").read_text())
    steps = [r for r in records if r["step"] > 0]
    wall = 0.0
    accuracy = []
    for r in records:
        wall += r.get("wall_s", 0.0)
        if "test_accuracy" in r:
            accuracy.append({"step": r["step"], "accuracy": r["test_accuracy"], "wall_s": round(wall, 2)})
    names = [m for m in SERIES if steps and m in steps[0]]
    windows = [steps[i:i + WINDOW] for i in range(0, len(steps), WINDOW)]
    return {
        "config": {k: v for k, v in config.items() if k != "model"},
        "cpu": cpu_name(),  # the same seed rounds differently, and so ends elsewhere, on another kind of CPU
        "accuracy": accuracy,
        "wall_s": round(wall, 2),
        # robust to a shared machine: other jobs slow some steps, never the median much
        "median_step_s": statistics.median(r["wall_s"] for r in steps) if steps else 0.0,
        "mean": {m: sum(r[m] for r in steps) / len(steps) for m in names},
        # greedy, process-verified and sampled pass@k of the final policy, where the sweep evaluated it
        "final_eval": json.loads((run / "eval.json").read_text()) if (run / "eval.json").exists() else None,
        "series": {"step": [w[-1]["step"] for w in windows],
                   **{m: [round(sum(r[m] for r in w) / len(w), 5) for w in windows] for m in names}},
    }


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux): where a run was trained."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def read_summary(path: Path) -> dict:
    """The ``runs`` of a summary file, {} if there is none yet."""
    return json.loads(path.read_text())["runs"] if path.exists() else {}


def write_summary(plan: str, runs_dir: Path, out: Path) -> dict:
    """Every finished run of the plan -> {name: {seed: record}}, written to ``out`` atomically.

    A run's record comes from its folder under runs_dir, or, where that folder is gone (another machine, a
    clean clone), from ``out`` as it was: the summary file is itself what a sweep resumes from.
    """
    kept = read_summary(out)
    summary = {}
    for name in PLANS[plan]:
        records = dict(kept.get(name, {}))
        for run in (runs_dir / name).glob("seed*"):
            if run.name.removeprefix("seed").isdigit() and (run / "policy.pt").exists():  # not seedN.partial
                records[run.name.removeprefix("seed")] = summarize(run)
        if records:
            summary[name] = {seed: records[seed] for seed in sorted(records, key=int)}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"plan": plan, "runs": summary}, indent=1) + "\n")
    os.replace(tmp, out)
    return summary


def run_plan(plan: str, seeds: list[int], runs_dir: Path, out: Path, extra: list[str] = (),
             methods: list[str] | None = None) -> None:
    """Train what is missing, seed after seed, rewriting ``out`` after each run; ``extra`` flags go to every run.
    ``methods`` trains only those of the plan (all by default), in the order given."""
    if plan not in PLANS:
        raise ValueError(f"unknown plan {plan!r}; plans: {', '.join(PLANS)}")
    unknown = [m for m in methods or [] if m not in PLANS[plan]]
    if unknown:
        raise ValueError(f"plan {plan!r} has no method {unknown[0]!r}; its methods: {', '.join(PLANS[plan])}")
    done = read_summary(out)
    todo = [(seed, name) for seed in seeds for name in (methods or PLANS[plan])
            if not (runs_dir / name / f"seed{seed}" / "policy.pt").exists() and str(seed) not in done.get(name, {})]
    print(f"sweep {plan}: {len(todo)} of {len(seeds) * len(methods or PLANS[plan])} runs to train", flush=True)
    for i, (seed, name) in enumerate(todo, 1):
        command, flags = PLANS[plan][name]
        folder = runs_dir / name / f"seed{seed}"
        # --overwrite: the folder holds no finished run (no policy.pt); --resume: a stopped one saved a checkpoint
        resume = ["--resume"] * (folder.with_name(folder.name + ".partial") / CHECKPOINT).exists()
        argv = [sys.executable, "-m", "minigrpo", command, *flags, "--seed", str(seed), "--overwrite", *resume, *extra,
                "--out", str(folder)]
        print(f"[{i}/{len(todo)}] {' '.join(argv[2:])}", flush=True)
        start = time.perf_counter()
        try:
            subprocess.run(argv, check=True)
            final_eval(folder)
        except subprocess.CalledProcessError as err:  # the run printed its own error
            raise ValueError(f"sweep {plan}: {name} seed {seed} failed (exit {err.returncode}), for the reason "
                             "printed above; the same command resumes the sweep") from None
        print(f"[{i}/{len(todo)}] done in {time.perf_counter() - start:.0f} s", flush=True)
        write_summary(plan, runs_dir, out)
    write_summary(plan, runs_dir, out)


def final_eval(folder: Path) -> dict:
    """``python -m minigrpo eval`` of the run's policy with ``EVAL``'s sampling, kept in ``folder/eval.json``."""
    argv = [sys.executable, "-m", "minigrpo", "eval", "--checkpoint", str(folder / "policy.pt"), *EVAL]
    done = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result = {k: v for k, v in result.items() if k != "checkpoint"}
    tmp = folder / "eval.json.tmp"
    tmp.write_text(json.dumps(result) + "\n")
    os.replace(tmp, folder / "eval.json")
    return result


# Student's t quantile 0.975 for n - 1 degrees of freedom: the 95% interval of a mean of n seeds.
T975 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 7: 2.447, 8: 2.365, 9: 2.306, 10: 2.262}


def mean_interval(xs: list[float]) -> tuple[float, float]:
    """(mean, half-width of its 95% t-interval); the half-width is nan for one value."""
    m = statistics.mean(xs)
    if len(xs) < 2:
        return m, float("nan")
    return m, T975[min(len(xs), max(T975))] * statistics.stdev(xs) / len(xs) ** 0.5


def method_rows(runs: dict) -> list[dict]:
    """One row per method of a summary's ``runs``: seeds, final and best accuracy (mean and 95% half-width),
    median seconds per step, and the where-the-signal-is metrics averaged over steps and seeds."""
    rows = []
    for name, seeds in runs.items():
        records = list(seeds.values())
        rows.append({
            "name": name, "seeds": len(records),
            "final": mean_interval([r["accuracy"][-1]["accuracy"] for r in records]),
            "best": mean_interval([max(a["accuracy"] for a in r["accuracy"]) for r in records]),
            "step_s": statistics.mean(r["median_step_s"] for r in records),
            **{m: statistics.mean(r["mean"][m] for r in records)
               for m in ("zero_spread_frac", "adv_nonzero_frac", "adv_abs_mean")},
        })
    return rows
