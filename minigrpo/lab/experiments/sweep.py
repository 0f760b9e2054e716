"""Several methods times several seeds, one training process at a time, resumable, written to the results file.

``python -m minigrpo sweep credit --seeds 0 1 2`` trains every run of the plan (plans.py) that has no
``policy.pt`` yet (a run stopped half way resumes from its last checkpoint), each in its own folder
``runs/sweeps/<plan>/<name>/seed<N>``, evaluates it once more (``eval --samples 8``: greedy and
process-verified accuracy, sampled pass@1/4/8, into its ``eval.json``), and writes its record into
``data/results.json`` (results.py). So a sweep of hours survives being stopped: run the same command again. A
run the results file already holds is not trained again either, so a committed file resumes on a new machine.

The seed is the RL run's (prompts drawn, completions sampled); every run starts from the same
warm start, so the seeds measure how much one training run varies, not how much warm starts do.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ..runs import CHECKPOINT, cpu_name, read_metrics, seconds_saved
from . import results
from .plans import PLANS, TASKS, task_of

SERIES = ("reward_mean", "learned_reward_mean", "reward_format", "reward_length", "zero_spread_frac",
          "adv_nonzero_frac", "adv_abs_mean", "kl", "clip_frac", "grad_norm", "completion_len", "entropy",
          "explained_variance", "value_loss")
WINDOW = 10  # steps averaged into one point of a summary's series
EVAL = ["--samples", "8", "--k", "1", "4", "8", "--seed", "0"]  # the final evaluation of every finished run
# and of every PPO run's critic: a trained policy rarely slips at the first step, so 200 problems (1600 completions)
# give each step index enough first slips to pair with right answers
LOCALIZE = ["--problems", "200", "--samples", "8", "--K", "16", "--seed", "0"]


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
    times = [r["wall_s"] for r in steps if "wall_s" in r]  # a warm start logs none
    windows = [steps[i:i + WINDOW] for i in range(0, len(steps), WINDOW)]
    return {
        "config": {k: v for k, v in config.items() if k != "model"},
        # the same seed rounds differently, and so ends elsewhere, on another kind of CPU; the run folder's run.json
        # (runs.py) names the one that trained it, so summarizing it again on another machine keeps it
        "cpu": json.loads((run / "run.json").read_text())["cpu"] if (run / "run.json").exists() else cpu_name(),
        "accuracy": accuracy,
        "wall_s": round(wall, 2),
        # robust to a shared machine: other jobs slow some steps, never the median much
        "median_step_s": statistics.median(times) if times else 0.0,
        "mean": {m: sum(r[m] for r in steps) / len(steps) for m in names},
        # greedy, process-verified and sampled pass@k of the final policy, where the sweep evaluated it
        "final_eval": json.loads((run / "eval.json").read_text()) if (run / "eval.json").exists() else None,
        "sweep_s": float((run / "sweep_s").read_text()) if (run / "sweep_s").exists() else None,
        "series": {"step": [w[-1]["step"] for w in windows],
                   **{m: [round(sum(r[m] for r in w) / len(w), 5) for w in windows] for m in names}},
    }


def write_summary(plan: str, runs_dir: Path, out: Path) -> dict:
    """Every finished run of the plan -> {name: {seed: record}}, written into the results file ``out``.

    A run's record comes from its folder under runs_dir, or, where that folder is gone (another machine, a
    clean clone), from ``out`` as it was: the results file is itself what a sweep resumes from.
    """
    kept = results.plan_runs(plan, out)
    summary = {}
    for name, (command, flags) in PLANS[plan].items():
        records = dict(kept.get(name, {}))
        for run in (runs_dir / name).glob("seed*"):
            if run.name.removeprefix("seed").isdigit() and (run / "policy.pt").exists():  # not seedN.partial
                seed = run.name.removeprefix("seed")
                records[seed] = {"plan": plan, "method": name, "seed": int(seed), "command": command,
                                 "flags": flags, **summarize(run)}
        if records:
            summary[name] = records
    results.store(plan, summary, out, order=list(PLANS[plan]))
    return summary


def run_plan(plan: str, seeds: list[int], runs_dir: Path, out: Path, extra: list[str] = (),
             methods: list[str] | None = None, data: Path | str = "data") -> None:
    """Train what is missing, seed after seed, writing each run's record into the results file ``out`` as it
    finishes. Every run starts from ``data``/warmstart.pt and uses that folder's splits (and reward models: the
    plans' ``{data}``); ``extra`` flags go to every run; ``methods`` trains only those of the plan (all by
    default), in the order given."""
    if plan not in PLANS:
        raise ValueError(f"unknown plan {plan!r}; plans: {', '.join(PLANS)}")
    unknown = [m for m in methods or [] if m not in PLANS[plan]]
    if unknown:
        raise ValueError(f"plan {plan!r} has no method {unknown[0]!r}; its methods: {', '.join(PLANS[plan])}")
    done = results.plan_runs(plan, out)
    todo = [(seed, name) for seed in seeds for name in (methods or PLANS[plan])
            if not (runs_dir / name / f"seed{seed}" / "policy.pt").exists() and str(seed) not in done.get(name, {})]
    print(f"sweep {plan}: {len(todo)} of {len(seeds) * len(methods or PLANS[plan])} runs to train", flush=True)
    for i, (seed, name) in enumerate(todo, 1):
        command, flags = PLANS[plan][name]
        folder = runs_dir / name / f"seed{seed}"
        # --overwrite: the folder holds no finished run (no policy.pt); --resume: a stopped one saved a checkpoint
        checkpoint = folder.with_name(folder.name + ".partial") / CHECKPOINT
        resume = ["--resume"] * checkpoint.exists()
        earlier = seconds_saved(checkpoint) if resume else 0.0  # an earlier sitting's steps, up to the checkpoint
        flags = [flag.format(data=data) for flag in flags]
        argv = [sys.executable, "-m", "minigrpo", command, *flags, "--init", f"{data}/warmstart.pt",
                "--data", str(data), "--seed", str(seed), "--overwrite", *resume, *extra, "--out", str(folder)]
        print(f"[{i}/{len(todo)}] {' '.join(argv[2:])}", flush=True)
        start = time.perf_counter()
        try:
            subprocess.run(argv, check=True)
            final_eval(folder / "policy.pt", data, max_new_tokens=task_of(plan).max_new_tokens)
        except subprocess.CalledProcessError as err:  # the run printed its own error
            raise ValueError(f"sweep {plan}: {name} seed {seed} failed (exit {err.returncode}), for the reason "
                             "printed above; the same command resumes the sweep") from None
        seconds = time.perf_counter() - start + earlier
        # the run and its evaluation, whole processes: what `reproduce` sums (a resumed run: this sitting and the
        # steps it did not have to do again; the steps done twice, after the checkpoint, count once)
        (folder / "sweep_s").write_text(f"{seconds:.1f}\n")
        print(f"[{i}/{len(todo)}] done in {seconds:.0f} s", flush=True)
        write_summary(plan, runs_dir, out)
    write_summary(plan, runs_dir, out)


def final_eval(checkpoint: Path, data: Path | str = "data", out: Path | None = None,
               max_new_tokens: int = TASKS["steps3"].max_new_tokens) -> dict:
    """``python -m minigrpo eval`` of a checkpoint on ``data``'s test split with ``EVAL``'s sampling, kept in
    ``out`` (default: eval.json beside the checkpoint); where a critic.pt lies beside it (a PPO run), also
    ``python -m minigrpo localize`` of that critic: does it localize a slip (``LOCALIZE``)? Sampled completions
    get ``max_new_tokens``, the task's (plans.TASKS)."""
    budget = ["--max-new-tokens", str(max_new_tokens)]
    argv = [sys.executable, "-m", "minigrpo", "eval", "--checkpoint", str(checkpoint), "--data", str(data), *EVAL,
            *budget]
    done = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result = {k: v for k, v in result.items() if k != "checkpoint"}
    critic = Path(checkpoint).with_name("critic.pt")
    if critic.exists():
        argv = [sys.executable, "-m", "minigrpo", "localize", "--policy", str(checkpoint), "--critic", str(critic),
                "--data", str(data), *LOCALIZE, *budget]
        done = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True)
        result["localization"] = json.loads(done.stdout.strip().splitlines()[-1])["localization"]
    out = Path(out or Path(checkpoint).with_name("eval.json"))
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result) + "\n")
    os.replace(tmp, out)
    return result
