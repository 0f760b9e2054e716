"""The bug zoo's effects on training: each bug measured where its code runs, next to a baseline, resumably.

The measurement itself (``python -m minigrpo bugzoo --effects``, half an hour) is a command, not a unit test; here one
bug goes through it end to end at toy size, and a stand-in for the training run checks the bookkeeping.
"""

import json
import math

import pytest

from minigrpo.lab.bugzoo import BUGS
from minigrpo.lab.bugzoo.effects import ACTS_IN, SETTINGS, effect_cell, format_effects, measure, setting_of, summarize
from minigrpo.lab.cli import main

TOY = ["--steps", "1", "--test-problems", "4", "--mu", "1",
       "--extra=--prompts-per-step 2 --group-size 2 --max-new-tokens 8 --device cpu"]


def test_every_bug_is_measured_in_a_setting_that_runs_its_code():
    assert set(ACTS_IN) <= {bug.name for bug in BUGS} and set(ACTS_IN.values()) <= set(SETTINGS)
    for bug in BUGS:
        setting = SETTINGS[setting_of(bug)]
        assert setting.command == ("ppo" if bug.file.startswith("ppo/") else "grpo"), bug.name
        assert not bug.file.startswith("lab/") or bug.name in ACTS_IN, f"{bug.name}: its code runs behind a switch"
    temperature = SETTINGS[ACTS_IN["temperature-not-in-training-logprobs"]].flags
    assert float(temperature[temperature.index("--temperature") + 1]) != 1  # at T = 1 the bug changes nothing
    assert SETTINGS[ACTS_IN["dapo-normalized-per-process"]].processes > 1  # in one process it changes nothing


def test_a_run_is_ok_diverged_or_crashed_by_how_it_ended():
    records = [{"step": 0, "test_accuracy": 0.5}] + [{"step": s, "kl": 0.1 * s, "clip_frac": 0.0, "reward_mean": 0.5}
                                                    for s in range(1, 13)] + [{"step": 13, "kl": math.nan}]
    ok = summarize(records[:-1] + [{"step": 13, "kl": 1.3, "test_accuracy": 0.6}], 0, "", 1.0)
    assert (ok["status"], ok["steps"], ok["accuracy_before"], ok["accuracy"]) == ("ok", 13, 0.5, 0.6)
    assert ok["kl"] == pytest.approx(sum(0.1 * s for s in range(4, 14)) / 10)  # the mean of the last 10 steps
    diverged = summarize(records, 1, "error: step 13: loss is nan, training stopped; runs/x keeps ...", 1.0)
    assert (diverged["status"], diverged["accuracy"], diverged["kl"]) == ("diverged", None, None)  # nan: no mean
    assert diverged["error"].startswith("error: step 13")
    assert summarize(records[:3], 1, "Traceback ...\nNameError: name 'x' is not defined", 1.0)["status"] == "crashed"
    assert summarize([], None, "no result in 3600 s", 1.0)["status"] == "crashed"


def test_one_bug_end_to_end_at_toy_size_and_a_rerun_measures_nothing(tmp_path, capsys, monkeypatch):
    """k3 with e^r for log r is e - 2 per token where pi_theta = pi_ref, as at the first inner step; the right k3
    is exactly 0 there. The two runs start alike (same warm start, same held-out problems)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a toy run: threads cost more than they save, on a busy machine most
    out = tmp_path / "effects.json"
    assert main(["bugzoo", "--effects", "--bug", "k3-exp-of-the-ratio", "--out", str(out), *TOY]) == 0
    runs = json.loads(out.read_text())["runs"]
    base, bug = runs["baseline | grpo | mu=1"], runs["k3-exp-of-the-ratio | grpo | mu=1"]
    assert base["status"] == bug["status"] == "ok", (base, bug)
    assert base["kl"] == 0 and bug["kl"] == pytest.approx(math.e - 2, rel=1e-5)
    assert base["accuracy_before"] == bug["accuracy_before"] is not None
    table = capsys.readouterr().out
    assert "(baseline)" in table and "k3-exp-of-the-ratio" in table
    never = lambda *args: pytest.fail("measured again")  # noqa: E731
    again = measure(["k3-exp-of-the-ratio"], 1, 4, (1,), out, TOY[-1].removeprefix("--extra=").split(), train=never)
    assert again["runs"] == runs
    with pytest.raises(ValueError, match="was measured with"):
        measure(["k3-exp-of-the-ratio"], 2, 4, (1,), out, train=never)


def test_each_run_trains_the_planted_copy_or_the_clean_one_at_each_mu(tmp_path):
    seen = []

    def train(root, setting, mu, steps, data, extra):
        bug = next((b for b in BUGS if b.new in (root / "minigrpo" / b.file).read_text()
                    and b.old not in (root / "minigrpo" / b.file).read_text()), None)
        held_out = (data / "test.jsonl").read_text().splitlines()
        seen.append((bug and bug.name, setting.command, mu, steps, len(held_out), tuple(extra)))
        return {"status": "ok", "steps": steps, "accuracy_before": 0.4, "accuracy": 0.5 if bug else 0.45,
                "kl": 0.02 if bug else 0.01, "clip_frac": 0.0, "reward_mean": 0.5, "error": None, "seconds": 1.0}

    results = measure(["clip-with-max", "td-rewards-shifted"], 3, 7, (1, 2), tmp_path / "e.json", ["--lr", "1e-4"],
                      train=train, say=lambda line: None)
    assert seen == [(None, "grpo", 1, 3, 7, ("--lr", "1e-4")), (None, "grpo", 2, 3, 7, ("--lr", "1e-4")),
                    (None, "ppo", 1, 3, 7, ("--lr", "1e-4")), (None, "ppo", 2, 3, 7, ("--lr", "1e-4")),
                    ("clip-with-max", "grpo", 1, 3, 7, ("--lr", "1e-4")),
                    ("clip-with-max", "grpo", 2, 3, 7, ("--lr", "1e-4")),
                    ("td-rewards-shifted", "ppo", 1, 3, 7, ("--lr", "1e-4")),
                    ("td-rewards-shifted", "ppo", 2, 3, 7, ("--lr", "1e-4"))]
    assert effect_cell(results, "clip-with-max") == "mu=1: accuracy +0.050, KL x2.0; mu=2: accuracy +0.050, KL x2.0"
    assert effect_cell(results, "adv-norm-precedence") == "not measured"
    table = format_effects(results).splitlines()
    assert len(table) == 1 + 8 and table[1].startswith("(baseline)") and "0.400->0.500  +0.050" in table[-1]
