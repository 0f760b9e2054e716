"""`python -m minigrpo reproduce --quick`: every stage of the pipeline at toy size, end to end, into its own folder,
leaving the repository as it was; run again, it trains nothing twice."""

import hashlib
import json
import subprocess
import sys

import pytest

from minigrpo.lab.experiments import readme, results
from minigrpo.lab.experiments.plans import PLANS, SEEDS, TASKS
from minigrpo.lab.experiments.reproduce import Reproduction

ROOT = readme.ROOT


def fingerprint() -> dict[str, str]:
    """sha256 of every file the full pipeline writes in the repository."""
    paths = [*readme.documents(), *(ROOT / "data").iterdir(), *(ROOT / "figures").iterdir()]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


def reproduce_quick(out):
    done = subprocess.run([sys.executable, "-m", "minigrpo", "reproduce", "--quick", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_quick_reproduction_runs_every_stage_and_resumes(tmp_path):
    before = fingerprint()
    out = tmp_path / "quick"
    reproduce_quick(out)

    log = json.loads((out / "reproduce.json").read_text())
    assert set(log["seconds"]) == {*Reproduction.STAGES, "total"}
    records = results.load(out / "results.json")
    warm_starts = {("warm_start", f"warmup_{name}" if task.folder else "warmup") for name, task in TASKS.items()}
    warm_starts |= {("warm_start", f"warmup_{name}_default_steps") for name, task in TASKS.items()
                    if task.warmup_steps != TASKS["steps3"].warmup_steps} | {("warm_start", "warmup_skilled")}
    every_run = warm_starts | {(plan, method) for plan in SEEDS for method in PLANS[plan]}
    assert sorted((r["plan"], r["method"]) for r in records) == sorted(every_run)  # each once: seed 0 only
    assert all(r["seed"] == 0 and r["final_eval"]["n"] == 40 and r["cpu"] for r in records)
    trained = [r for r in records if r["plan"] != "warm_start"]
    assert all(r["accuracy"][-1]["step"] == 2 for r in trained)  # the quick sizes reach every run, variants too
    warm = results.plan_runs("warm_start", out / "results.json")["warmup"]["0"]
    assert warm["sha256"] == hashlib.sha256((out / "data" / "warmstart.pt").read_bytes()).hexdigest()
    assert log["warm_start"] == {"replaced_sha256": None, "sha256": warm["sha256"], "bit_for_bit": False}
    for name in ("warmstart.pt", "skilled_warmstart.pt", "orm.pt", "prm.pt", "grpo_policy.pt", "ppo_policy.pt",
                 "ppo_critic.pt", "grpo_orm_policy.pt", "train.jsonl", "test.jsonl"):
        assert (out / "data" / name).is_file(), name
    for name in ("grpo_learning_curves.png", "results_seeds.png"):
        assert (out / "figures" / name).is_file(), name
    texts = {path: path.read_text() for path in readme.documents(out)}  # its own copy of README.md and docs/*.md
    assert [path.relative_to(out) for path in texts] == [path.relative_to(ROOT) for path in readme.documents()]
    for name, block in readme.blocks(out / "results.json", out / "data").items():
        assert readme.shown(texts[readme.holder(texts, name)], name) == block, name
    assert fingerprint() == before
    # what it took, each piece timed when it was made, in data/reproduce.json and in the compute block
    measured = json.loads((out / "data" / "reproduce.json").read_text())
    assert measured == log["measured"] and list(measured["seconds"]) == list(Reproduction.STAGES[:-1])
    assert measured["total"] == pytest.approx(sum(measured["seconds"].values()))
    assert measured["seconds"]["runs"] == pytest.approx(sum(r["sweep_s"] for r in trained))
    assert measured["seconds"]["warm_start"] == pytest.approx(sum(r["wall_s"] for r in records
                                                                  if r["plan"] == "warm_start"), abs=0.01)
    assert all(r["sweep_s"] > 0 for r in trained)
    # the CPU that trained each run, noted in its folder, is its record's (a later summary on another machine keeps it)
    assert all(json.loads((out / "sweeps" / r["plan"] / r["method"] / "seed0" / "run.json").read_text())["cpu"]
               == r["cpu"]
               for r in trained)
    assert measured["runs"] == len(trained) and measured["not_timed"] == 0
    compute = readme.shown(texts[readme.holder(texts, "compute")], "compute")
    assert "Measured: the last `python -m minigrpo reproduce` took" in compute

    policies = {p: p.stat().st_mtime_ns for p in (out / "sweeps").glob("*/*/seed0/policy.pt")}
    assert len(policies) == len(every_run) - len(warm_starts)
    for name, task in TASKS.items():  # each task's warm start, in its own folder of splits
        assert (out / "data" / task.folder / "warmstart.pt").is_file() and (out / "data" / task.folder /
                                                                          "train.jsonl").is_file(), name
    again = reproduce_quick(out)
    assert all(f"sweep {plan}: 0 of" in again for plan in SEEDS)
    # the warm start is not made again, so the comparison made with it stands (not the new file against itself)
    assert all(f"{method}: made by an earlier sitting" in again for _, method in warm_starts)
    assert json.loads((out / "reproduce.json").read_text())["warm_start"] == log["warm_start"]
    assert {p: p.stat().st_mtime_ns for p in policies} == policies  # nothing trained twice
    # a resumed reproduction counts each run once, at the time it took when it was trained
    assert json.loads((out / "reproduce.json").read_text())["measured"]["seconds"]["runs"] == \
        measured["seconds"]["runs"]
    assert fingerprint() == before
