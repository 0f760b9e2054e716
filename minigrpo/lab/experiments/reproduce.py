"""``python -m minigrpo reproduce``: one command rebuilds every artifact and number of the project, in order.

    1 splits          each task's train.jsonl and test.jsonl (data/, data/steps5, data/steps7), byte for byte
    2 warm starts     each task's warmstart.pt (plans.TASKS), compared bit for bit with the one it replaces;
                      data/skilled_warmstart.pt, the critic plan's skilled critic body
    3 reward models   data/orm.pt, data/prm.pt, trained on the new warm start's completions
    4 runs            every sweep plan (plans.py), seed 0 of all first, then more: one record per run in results.json
    5 checkpoints     the seed-0 runs' policies become data/grpo_policy.pt, ppo_policy.pt (+ critic), grpo_orm_policy.pt
    6 figures         the book's figures, from those runs and the results file
    7 notebooks       every notebook executed in place, so its outputs show the new numbers
    8 tables          the generated blocks of README.md and docs/*.md (readme.py), with what the stages before took
                      (data/reproduce.json)

Each stage leaves its output in the work folder (``runs/reproduce``); a warm start, reward model or run that is
there is not trained again (the cheap stages are simply redone), so a stopped reproduction resumes: run the same
command. The results file is a fresh one in
the work folder (a new warm start makes every old record stale) and replaces data/results.json when the runs are
done. Everything is deterministic on one kind of CPU; another kind rounds differently (docs/results.md).

``--quick`` runs the same stages at toy size into its own folder (its own data/, results, figures and a copy of the
README and docs/), leaving the repository untouched: a check that the pipeline works, in a few minutes, not a result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...task import DATA_DIR
from . import readme, tables
from . import results as res
from .plans import SKILLED_STEPS, TASKS, Task, schedule, task_of
from .readme import ROOT
from .sweep import cpu_name, final_eval, run_plan, summarize


@dataclass(frozen=True)
class Sizes:
    """The flags that make a stage small; empty for the real thing."""

    data: list[str] = field(default_factory=list)
    warmup: list[str] = field(default_factory=list)
    reward_model: list[str] = field(default_factory=list)
    mc_samples: list[str] = field(default_factory=list)  # the process reward model's continuations per step
    runs: list[str] = field(default_factory=list)
    seeds: int = 5  # seeds per plan at most (plans.SEEDS asks for up to 5)


QUICK = Sizes(data=["--n-train", "2000", "--n-test", "40"],
              warmup=["--steps", "30", "--eval-every", "30", "--batch-size", "32"],
              reward_model=["--prompts", "8", "--samples-per-prompt", "2", "--heldout-prompts", "4", "--steps", "3",
                            "--batch-size", "8", "--eval-every", "3"],
              mc_samples=["--mc-samples", "2"],
              runs=["--steps", "2", "--eval-every", "2", "--prompts-per-step", "4", "--group-size", "4",
                    "--save-every", "1"],
              seeds=1)


def sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def minigrpo(*argv: str) -> None:
    """Run ``python -m minigrpo ARGV`` as its own process, as a user would; its output goes to the terminal."""
    try:
        subprocess.run([sys.executable, "-m", "minigrpo", *argv], check=True)
    except subprocess.CalledProcessError as err:  # the command printed its own error
        raise ValueError(f"reproduce: `python -m minigrpo {' '.join(argv[:3])} ...` failed (exit {err.returncode}), "
                         "for the reason printed above; the same command resumes") from None


class Reproduction:
    """The stages, over one work folder; ``quick`` keeps every output inside it."""

    def __init__(self, work: Path, quick: bool):
        self.work, self.quick = Path(work), quick
        self.sizes = QUICK if quick else Sizes()
        self.data = self.work / "data" if quick else DATA_DIR
        self.figures = self.work / "figures" if quick else ROOT / "figures"
        self.documents = self.work if quick else ROOT  # README.md and docs/*.md, whose generated blocks stage 8 writes
        self.results = self.work / "results.json"
        self.log = self.work / "reproduce.json"  # each stage's seconds, and what the warm start compared to

    def splits(self) -> None:
        for task in TASKS.values():
            minigrpo("data", "--num-operands", str(task.num_operands), "--out", str(self.data / task.folder),
                     *self.sizes.data)

    def warm_start(self) -> None:
        """Each task's warm start (plans.TASKS: its warm-up steps); the default task's is the one every default run
        starts from. A longer task's is also made with the default task's steps, only to show what they leave; and
        the default task's warm-up run to SKILLED_STEPS, the critic plan's critic body that does the arithmetic."""
        records = {}
        default_steps = TASKS["steps3"].warmup_steps
        for name, task in TASKS.items():
            method = "warmup" if not task.folder else f"warmup_{name}"
            records[method] = self._warm_start(method, task, task.warmup_steps,
                                               self.data / task.folder / "warmstart.pt")
            if task.warmup_steps != default_steps:
                records[f"{method}_default_steps"] = self._warm_start(f"{method}_default_steps", task, default_steps)
        records["warmup_skilled"] = self._warm_start("warmup_skilled", TASKS["steps3"], SKILLED_STEPS,
                                                     self.data / "skilled_warmstart.pt")
        res.store("warm_start", records, self.results)

    def _warm_start(self, method: str, task: Task, steps: int, target: Path | None = None) -> dict:
        """Train one warm start into the work folder (unless an earlier sitting did); it becomes ``target`` (a
        file under data/), compared bit for bit with the one it replaces, or stays in the work folder (None). Its
        record, by seed."""
        run, data = self.work / method, self.data / task.folder
        if (run / "policy.pt").exists():  # made by an earlier sitting, which compared it with what it replaced
            print(f"{method}: made by an earlier sitting of this reproduction (its comparison: reproduce.json)",
                  flush=True)
        else:
            replaced = sha256(target) if target else None
            start = time.perf_counter()
            minigrpo("warmup", "--data", str(data), "--block-size", str(task.block_size), "--steps", str(steps),
                     "--out", str(run), "--overwrite", *self.sizes.warmup)  # the toy sizes' --steps come last
            (run / "wall_s").write_text(f"{time.perf_counter() - start:.2f}\n")
            new = sha256(run / "policy.pt")
            if target:
                print(f"{method}: " + ("a new one (none was there to compare with)" if replaced is None else
                                       "bit for bit the same as the one it replaces" if replaced == new else
                                       "DIFFERENT from the one it replaces (a changed recipe, or another kind of CPU "
                                       "or number of threads, which rounds differently: docs/results.md); every run "
                                       "below is trained from the new one"), flush=True)
                self.note(method if method != "warmup" else "warm_start",
                          {"replaced_sha256": replaced, "sha256": new, "bit_for_bit": replaced == new})
        if target:
            shutil.copyfile(run / "policy.pt", target)
        flags = ["--block-size", str(task.block_size)] if task.folder else []
        if steps != TASKS["steps3"].warmup_steps:
            flags += ["--steps", str(steps)]
        return {"0": {"plan": "warm_start", "method": method, "seed": 0, "command": "warmup", "flags": flags,
                      **summarize(run), "wall_s": float((run / "wall_s").read_text()),
                      "sha256": sha256(run / "policy.pt"),
                      "final_eval": final_eval(target or run / "policy.pt", data, run / "eval.json",
                                               task.max_new_tokens)}}

    def reward_models(self) -> None:
        for kind, name in (("outcome", "orm"), ("process", "prm")):
            run = self.work / name
            if not (run / "reward_model.pt").exists():
                start = time.perf_counter()
                minigrpo("reward-model", "--kind", kind, "--init", str(self.data / "warmstart.pt"), "--data",
                         str(self.data), "--out", str(run), "--overwrite", *self.sizes.reward_model,
                         *(self.sizes.mc_samples if kind == "process" else []))
                (run / "wall_s").write_text(f"{time.perf_counter() - start:.2f}\n")
            shutil.copyfile(run / "reward_model.pt", self.data / f"{name}.pt")

    def runs(self) -> None:
        for plan, seeds in schedule():
            seeds = [s for s in seeds if s < self.sizes.seeds]
            if seeds:
                run_plan(plan, seeds, self.work / "sweeps" / plan, self.results, self.sizes.runs,
                         data=self.data / task_of(plan).folder)
        if not self.quick:
            shutil.copyfile(self.results, res.RESULTS)

    def checkpoints(self) -> None:
        sweeps = self.work / "sweeps"
        for source, target in (("credit/grpo_outcome/seed0/policy.pt", "grpo_policy.pt"),
                               ("credit/ppo/seed0/policy.pt", "ppo_policy.pt"),
                               ("credit/ppo/seed0/critic.pt", "ppo_critic.pt"),
                               ("reward_models/grpo_orm/seed0/policy.pt", "grpo_orm_policy.pt")):
            shutil.copyfile(sweeps / source, self.data / target)

    def draw(self) -> None:
        from ..viz.figures import draw_figures
        from ..viz.seeds import plot_seed_bands

        credit = self.work / "sweeps" / "credit"
        # the token-credit strips need a PPO policy that gets some answers right: not the quick one
        ppo = credit / "ppo" / "seed0" if not self.quick else self.work / "no-ppo-run"
        draw_figures(credit / "grpo_outcome" / "seed0", ppo, self.figures, seed=0)
        methods = {label: list(res.plan_runs(plan, self.results).get(method, {}).values())
                   for label, plan, method in tables.HEADLINE}
        plot_seed_bands({label: records for label, records in methods.items() if records},
                        self.figures / "results_seeds.png", "Headline runs, 600 steps from the same warm start")

    def notebooks(self) -> None:
        if self.quick:
            print("notebooks: not executed in quick mode (they read the repository's data/)", flush=True)
            return
        from .notebooks import execute

        for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
            execute(notebook, self.figures)

    def tables(self) -> None:
        if self.quick:  # a copy of the documents to write into
            (self.documents / "docs").mkdir(parents=True, exist_ok=True)
            for path in readme.documents(ROOT):
                shutil.copyfile(path, self.documents / path.relative_to(ROOT))
        changed = readme.update_documents(self.documents, self.results, self.data)
        print(f"README.md and docs/: regenerated {', '.join(changed) or 'nothing (all current)'}", flush=True)

    def measured(self, seconds: dict) -> dict:
        """What the reproduction took, stage by stage, each piece timed when it was made: each warm start,
        reward model and run by its own record (so a reproduction resumed over several invocations counts what the
        earlier ones made; a run resumed after a stop counts from its resume on); the cheap stages, redone at every
        invocation, by this one's seconds. The generated tables (a second) come after, so they are not in it."""
        def timed(path: Path) -> float | None:
            return float(path.read_text()) if path.exists() else None

        records = res.load(self.results)
        runs = [r for r in records if r["plan"] != "warm_start"]
        warm_starts = [r["method"] for r in records if r["plan"] == "warm_start"]
        pieces = {"warm_start": [timed(self.work / method / "wall_s") for method in warm_starts],
                  "reward_models": [timed(self.work / name / "wall_s") for name in ("orm", "prm")],
                  "runs": [r.get("sweep_s") for r in runs]}
        parts = {"splits": seconds["splits"],
                 **{stage: sum(s for s in made if s is not None) for stage, made in pieces.items()},
                 **{stage: seconds[stage] for stage in ("checkpoints", "draw", "notebooks")}}
        return {"seconds": parts, "total": sum(parts.values()), "cpu": cpu_name(), "runs": len(runs),
                "not_timed": sum(s is None for made in pieces.values() for s in made)}

    def note(self, key: str, value) -> None:
        log = json.loads(self.log.read_text()) if self.log.exists() else {}
        log[key] = value
        tmp = self.log.with_name(self.log.name + ".tmp")
        tmp.write_text(json.dumps(log, indent=1) + "\n")
        os.replace(tmp, self.log)

    STAGES = ("splits", "warm_start", "reward_models", "runs", "checkpoints", "draw", "notebooks", "tables")

    def __call__(self) -> dict:
        self.work.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        begin = time.perf_counter()
        seconds = {}
        for i, stage in enumerate(self.STAGES, 1):
            if stage == "tables":  # the compute block says what the stages before it took: data/reproduce.json
                measured = self.measured(seconds)
                self.note("measured", measured)
                tmp = self.data / "reproduce.json.tmp"
                tmp.write_text(json.dumps(measured, indent=1) + "\n")
                os.replace(tmp, self.data / "reproduce.json")
            print(f"== reproduce [{i}/{len(self.STAGES)}] {stage.replace('_', ' ')} "
                  f"({(time.perf_counter() - begin) / 60:.1f} min so far)", flush=True)
            start = time.perf_counter()
            getattr(self, stage)()
            seconds[stage] = round(time.perf_counter() - start, 1)
        self.note("seconds", {**seconds, "total": round(time.perf_counter() - begin, 1)})
        return json.loads(self.log.read_text())


def reproduce(work: Path, quick: bool = False) -> dict:
    """Run every stage (see the module's docstring); returns the log: seconds per stage and the warm start's check."""
    return Reproduction(work, quick)()
