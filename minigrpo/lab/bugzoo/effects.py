"""What each bug of the zoo does to training: a short run of a copy of the package with the bug planted, next to the
same run of the unmutated copy, at mu = 1 and mu = 2 (``python -m minigrpo bugzoo --effects``).

    for each setting the bugs need, and each bug:  (the setting's baseline first: the same copy, no bug)
        copy the package to a temporary folder, plant the bug
        for mu in (1, 2):  python -m minigrpo grpo|ppo --steps 40 --num-inner-steps mu in the copy, from the shipped
                           warm start, evaluated greedily before and after on the first 200 held-out problems
            record: held-out accuracy before and after, KL and clip fraction (means over the last 10 steps), and
                    whether the run finished, stopped at a non-finite loss (diverged) or failed (crashed)

A bug acts only where its code runs, so each is measured in the setting that runs it (``SETTINGS``, ``setting_of``):
PPO's bugs in PPO, the learned reward model's with one, the temperature bug at a temperature other than 1, the
per-process normalizer in two processes. Its baseline is the unmutated package in the same setting with the same
seed: the same prompts and, until the bug first changes a number, the same completions, so a difference is the
bug's. A bug of the ratio, the clip or pi_old cannot act at mu = 1, where the ratio is exactly 1: the two columns
show it. One seed: weigh a difference of accuracy against how much a second seed moves the baseline.

Each result is written to the JSON file as soon as it is measured, keyed by bug (or baseline), setting and mu, with
the run's settings; a rerun skips what is there, so a stopped measurement resumes where it was.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .catalogue import Bug
from .run import ROOT, copy_package, imported_from, plant, select

DATA = ROOT / "data"
RESULTS = DATA / "bugzoo_effects.json"
LAST = 10  # the KL and clip fraction are means over the last LAST steps: one step's are noisy
TIMEOUT_S = 3600  # per run: only a hang takes this long


@dataclass(frozen=True)
class Setting:
    command: str  # grpo or ppo
    flags: tuple[str, ...] = ()  # added to the run's command line; {data} is the shipped data folder
    processes: int = 1  # more than 1: under torchrun


SETTINGS = {
    "grpo": Setting("grpo"),
    "ppo": Setting("ppo"),
    "grpo T=0.7": Setting("grpo", ("--temperature", "0.7")),  # at T = 1 a missing temperature changes nothing
    "grpo ORM": Setting("grpo", ("--reward-model", "{data}/orm.pt")),
    "grpo dapo x2": Setting("grpo", ("--aggregation", "dapo"), processes=2),  # one process gives the right loss
}
# The bugs whose code runs only in a setting other than their folder's (ppo/ -> ppo, anything else -> grpo).
ACTS_IN = {"temperature-not-in-training-logprobs": "grpo T=0.7", "reward-read-at-the-padded-end": "grpo ORM",
           "dapo-normalized-per-process": "grpo dapo x2"}


def setting_of(bug: Bug) -> str:
    return ACTS_IN.get(bug.name, "ppo" if bug.file.startswith("ppo/") else "grpo")


def command(setting: Setting, mu: int, steps: int, data: Path, out: Path, extra: list[str]) -> list[str]:
    """The training run's command line, run in the copy's folder."""
    launch = [sys.executable, "-m", "minigrpo"]
    if setting.processes > 1:
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                  str(setting.processes), "-m", "minigrpo"]
    return [*launch, setting.command, "--init", str(DATA / "warmstart.pt"), "--data", str(data), "--out", str(out),
            "--steps", str(steps), "--num-inner-steps", str(mu), "--eval-every", str(steps),
            *(flag.format(data=DATA) for flag in setting.flags), *extra]


def summarize(records: list[dict], returncode: int | None, stderr: str, seconds: float) -> dict:
    """One run's result from its metrics.jsonl records and how its process ended (None: it hung and was stopped)."""
    status = ("ok" if returncode == 0 else "diverged" if returncode == 1 and "training stopped" in stderr
              else "crashed")
    steps = [r for r in records if r["step"] > 0]
    accuracies = [r["test_accuracy"] for r in records if "test_accuracy" in r]

    def last_mean(key):
        values = [r[key] for r in steps[-LAST:] if key in r]
        mean = sum(values) / len(values) if values else math.nan
        return mean if math.isfinite(mean) else None  # a diverged run's last step holds the nan or inf

    lines = stderr.strip().splitlines()
    return {"status": status, "steps": len(steps), "accuracy_before": accuracies[0] if accuracies else None,
            "accuracy": accuracies[-1] if status == "ok" and len(accuracies) > 1 else None,
            "kl": last_mean("kl"), "clip_frac": last_mean("clip_frac"), "reward_mean": last_mean("reward_mean"),
            "error": None if status == "ok" else (lines[-1] if lines else f"exit {returncode}"),
            "seconds": round(seconds, 1)}


def train_copy(root: Path, setting: Setting, mu: int, steps: int, data: Path, extra: list[str]) -> dict:
    """Train the copy of the package at ``root`` (PYTHONPATH puts it ahead of the install, as the zoo does)."""
    out = root / "runs" / f"mu{mu}"
    env = {**os.environ, "PYTHONPATH": str(root)}
    if setting.processes > 1:
        env["OMP_NUM_THREADS"] = "1"  # the processes share the cores
    start = time.perf_counter()
    try:
        done = subprocess.run(command(setting, mu, steps, data, out, extra), cwd=root, env=env, capture_output=True,
                              text=True, timeout=TIMEOUT_S)
        returncode, stderr = done.returncode, done.stderr
    except subprocess.TimeoutExpired:
        returncode, stderr = None, f"no result in {TIMEOUT_S} s"
    metrics = next((p for p in (out / "metrics.jsonl", out.with_name(out.name + ".partial") / "metrics.jsonl")
                    if p.is_file()), None)  # a run that failed left its records in <out>.partial
    records = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics else []
    return summarize(records, returncode, stderr, time.perf_counter() - start)


def key(bug: Bug | None, setting: str, mu: int) -> str:
    return f"{bug.name if bug else 'baseline'} | {setting} | mu={mu}"


def load(path: Path, conditions: dict) -> dict:
    """The results measured so far in ``path``, which must have been measured under the same ``conditions``."""
    if not path.is_file():
        return {"conditions": conditions, "runs": {}}
    results = json.loads(path.read_text())
    if results["conditions"] != conditions:
        raise ValueError(f"{path} was measured with {results['conditions']}, not {conditions}: name another --out")
    return results


def save(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, path)  # a stop mid-write leaves the last complete file


def measure(names: list[str] | None = None, steps: int = 40, test_problems: int = 200, mus: tuple[int, ...] = (1, 2),
            out: Path = RESULTS, extra: list[str] | None = None, train=train_copy, say=print) -> dict:
    """Measure each bug (all, or those named) and its settings' baselines at each mu; returns the results file's
    contents. A result already in ``out`` is not measured again."""
    extra = list(extra or [])
    if steps < 1 or test_problems < 1 or not mus or min(mus) < 1:
        raise ValueError(f"steps, test problems and each mu must be at least 1, got {steps}, {test_problems}, {mus}")
    out = Path(out)
    bugs = select(names)
    conditions = {"steps": steps, "test_problems": test_problems, "extra": extra}
    results = load(out, conditions)
    todo = [(None, s) for s in dict.fromkeys(setting_of(b) for b in bugs)] + [(b, setting_of(b)) for b in bugs]
    say(HEADER)
    with tempfile.TemporaryDirectory(prefix="bugzoo-effects-") as tmp:
        data = Path(tmp) / "data"  # the splits of the runs: the whole train split, the first test problems
        data.mkdir()
        (data / "train.jsonl").symlink_to(DATA / "train.jsonl")
        held_out = (DATA / "test.jsonl").read_text().splitlines(keepends=True)[:test_problems]
        (data / "test.jsonl").write_text("".join(held_out))
        for bug, setting in todo:
            missing = [mu for mu in mus if key(bug, setting, mu) not in results["runs"]]
            if missing:
                root = Path(tmp) / "copy"
                copy_package(root)
                if bug is not None:
                    plant(bug, root)
                if not imported_from(root).startswith(str(root)):  # the runs would train the unmutated install
                    raise RuntimeError(f"minigrpo does not import from the copy {root}: {imported_from(root)}")
                for mu in missing:
                    result = {"bug": bug.name if bug else None, "setting": setting, "mu": mu,
                              **train(root, SETTINGS[setting], mu, steps, data, extra)}
                    results["runs"][key(bug, setting, mu)] = result
                    save(out, results)
                    say(row(result, results))
                shutil.rmtree(root)
            for mu in mus:
                if mu not in missing:
                    say(row(results["runs"][key(bug, setting, mu)], results) + "  (measured before)")
    return results


HEADER = (f"{'bug':<38} {'setting':<13} {'mu':>2}  {'status':<8} {'accuracy':>13} {'vs base':>7} {'KL':>8} "
          f"{'clip':>6} {'s':>6}")


def row(result: dict, results: dict) -> str:
    """One line of the table: a run, its held-out accuracy before -> after and the change from its baseline's."""
    base = results["runs"].get(key(None, result["setting"], result["mu"]), {})
    accuracy = (f"{result['accuracy_before']:.3f}->{result['accuracy']:.3f}" if result["accuracy"] is not None
                else "-")
    versus = (f"{result['accuracy'] - base['accuracy']:+.3f}"
              if result["bug"] and result["accuracy"] is not None and base.get("accuracy") is not None else "")
    number = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    return (f"{result['bug'] or '(baseline)':<38} {result['setting']:<13} {result['mu']:>2}  {result['status']:<8} "
            f"{accuracy:>13} {versus:>7} {number(result['kl'], '8.4f')} {number(result['clip_frac'], '6.3f')} "
            f"{result['seconds']:6.0f}")


def format_effects(results: dict) -> str:
    """The whole table of a results file: every run measured, the baselines first."""
    runs = sorted(results["runs"].values(), key=lambda r: (r["bug"] is not None, r["bug"] or "", r["setting"],
                                                            r["mu"]))
    return "\n".join([HEADER, *(row(r, results) for r in runs)])


def effect_cell(results: dict, name: str) -> str:
    """One bug's effect in a few words per mu, for the zoo's table: 'mu=1: accuracy +0.000, KL x1.0; mu=2: ...'."""
    parts = []
    for r in sorted((r for r in results["runs"].values() if r["bug"] == name), key=lambda r: r["mu"]):
        base = results["runs"].get(key(None, r["setting"], r["mu"]), {})
        if r["status"] != "ok":
            parts.append(f"mu={r['mu']}: {r['status']} after {r['steps']} steps")
            continue
        words = [f"accuracy {r['accuracy'] - base['accuracy']:+.3f}" if base.get("accuracy") is not None
                 else f"accuracy {r['accuracy']:.3f}"]
        if base.get("kl") and r["kl"] is not None:
            words.append(f"KL x{r['kl'] / base['kl']:.1f}")
        parts.append(f"mu={r['mu']}: " + ", ".join(words))
    return "; ".join(parts) or "not measured"
