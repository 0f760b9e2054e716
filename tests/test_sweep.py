"""The sweep: what it trains, what it skips, and the summary it writes, against fake run folders."""

import json
import subprocess
from pathlib import Path

import pytest

from minigrpo.checkpoint import atomic_save
from minigrpo.lab.cli import main
from minigrpo.lab.experiments import plans, results, sweep
from minigrpo.lab.runs import FORMAT


def fake_run(folder, steps=25, reward=0.5):
    """A finished run folder as the trainers write it: config, metrics (evaluations at 0 and the end), policy."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model": {}, "grpo": {"steps": steps}}))
    records = [{"step": 0, "test_accuracy": 0.4}] + [
        {"step": s, "reward_mean": reward + s / 100, "zero_spread_frac": 0.5, "adv_nonzero_frac": 0.25,
         "adv_abs_mean": 0.4, "kl": 0.01, "clip_frac": 0.0, "wall_s": 1.0 + (s == 3) * 99} for s in range(1, steps + 1)]
    records[-1]["test_accuracy"] = 0.6
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "policy.pt").write_bytes(b"")


@pytest.fixture(autouse=True)
def fake_final_eval(monkeypatch):
    """The sweep's final evaluation of each run, without a model: tested on its own below."""
    monkeypatch.setattr(sweep, "final_eval",
                        lambda checkpoint, data, max_new_tokens:
                        checkpoint.with_name("eval.json").write_text('{"pass@8": 0.9}'))


def test_summary_by_hand(tmp_path):
    fake_run(tmp_path / "run")
    record = sweep.summarize(tmp_path / "run")
    assert record["accuracy"] == [{"step": 0, "accuracy": 0.4, "wall_s": 0.0}, {"step": 25, "accuracy": 0.6,
                                                                                "wall_s": 124.0}]
    assert record["wall_s"] == 124.0 and record["median_step_s"] == 1.0  # one slow step moves the sum, not the median
    assert record["mean"]["reward_mean"] == pytest.approx(0.5 + 13 / 100)  # mean of s / 100 over s = 1..25
    assert record["series"]["step"] == [10, 20, 25]  # windows of 10 steps, the last one short
    assert record["series"]["reward_mean"] == pytest.approx([0.555, 0.655, 0.73])
    assert "explained_variance" not in record["series"]  # only what the run logged
    assert record["config"] == {"grpo": {"steps": 25}}
    assert record["final_eval"] is None  # not evaluated by a sweep


def test_the_final_evaluation_is_the_eval_command_and_is_summarized(tmp_path, monkeypatch):
    calls = []

    def fake_eval(argv, check, stdout, text):
        calls.append(argv)
        line = json.dumps({"accuracy": 0.5, "pass@8": 0.75, "checkpoint": argv[argv.index("--checkpoint") + 1]})
        return subprocess.CompletedProcess(argv, 0, stdout="progress\n" + line + "\n")

    monkeypatch.setattr(subprocess, "run", fake_eval)
    monkeypatch.undo()  # the autouse fake of final_eval
    monkeypatch.setattr(subprocess, "run", fake_eval)
    fake_run(tmp_path / "run")
    assert sweep.final_eval(tmp_path / "run" / "policy.pt", "somewhere") == {"accuracy": 0.5, "pass@8": 0.75}
    assert calls[0][2:8] == ["minigrpo", "eval", "--checkpoint", str(tmp_path / "run" / "policy.pt"), "--data",
                             "somewhere"] and calls[0][8:] == [*sweep.EVAL, "--max-new-tokens", "32"]
    assert sweep.summarize(tmp_path / "run")["final_eval"] == {"accuracy": 0.5, "pass@8": 0.75}


def test_a_ppo_runs_final_evaluation_also_localizes_its_critic(tmp_path, monkeypatch):
    calls = []

    def fake(argv, check, stdout, text):
        calls.append(argv)
        out = ({"localization": {"1": {"pairs": 3, "mc": -0.5, "critic": -0.1, "fraction": 0.2}}}
               if argv[3] == "localize" else {"accuracy": 0.5})
        return subprocess.CompletedProcess(argv, 0, stdout=json.dumps(out) + "\n")

    monkeypatch.undo()  # the autouse fake of final_eval
    monkeypatch.setattr(subprocess, "run", fake)
    fake_run(tmp_path / "run")
    (tmp_path / "run" / "critic.pt").write_bytes(b"")  # a PPO run: its critic beside its policy
    result = sweep.final_eval(tmp_path / "run" / "policy.pt", "somewhere")
    assert result == {"accuracy": 0.5, "localization": {"1": {"pairs": 3, "mc": -0.5, "critic": -0.1,
                                                                   "fraction": 0.2}}}
    assert calls[1][3:10] == ["localize", "--policy", str(tmp_path / "run" / "policy.pt"), "--critic",
                              str(tmp_path / "run" / "critic.pt"), "--data", "somewhere"]
    assert calls[1][10:] == [*sweep.LOCALIZE, "--max-new-tokens", "32"]


def test_a_sweep_trains_only_what_is_missing_and_resumes(tmp_path, monkeypatch):
    trained = []

    def fake_subprocess_run(argv, check):
        trained.append(argv[3:])
        fake_run(Path(argv[argv.index("--out") + 1]))

    monkeypatch.setattr(subprocess, "run", fake_subprocess_run)
    fake_run(tmp_path / "runs" / "grpo_process_noise0.2" / "seed0")  # finished earlier
    (tmp_path / "runs" / "grpo_process_noise0.1" / "seed0").mkdir(parents=True)  # stopped half way: no policy.pt
    out = tmp_path / "summary.json"
    sweep.run_plan("step_label_noise", [0], tmp_path / "runs", out, ["--steps", "3"])
    assert [a[:1] + a[-4:] for a in trained] == [
        ["grpo", "--steps", "3", "--out", str(tmp_path / "runs" / name / "seed0")]
        for name in ("grpo_process_noise0.1", "grpo_process_noise0.3")]
    assert trained[0][trained[0].index("--step-label-noise") + 1] == "0.1"
    runs = results.plan_runs("step_label_noise", out)
    assert list(runs) == ["grpo_process_noise0.1", "grpo_process_noise0.2", "grpo_process_noise0.3"]
    record = runs["grpo_process_noise0.2"]["0"]
    assert record["accuracy"][-1]["accuracy"] == 0.6 and record["final_eval"] is None  # trained before, not by it
    assert runs["grpo_process_noise0.1"]["0"]["final_eval"] == {"pass@8": 0.9}
    assert (record["plan"], record["method"], record["seed"], record["command"]) == (
        "step_label_noise", "grpo_process_noise0.2", 0, "grpo")
    assert record["flags"] == ["--supervision", "process", "--step-label-noise", "0.2"]
    assert trained[0][trained[0].index("--init") + 1] == "data/warmstart.pt"  # every run: the sweep's warm start


def test_methods_choose_which_runs_train_and_in_what_order(tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr(subprocess, "run", lambda argv, check: (trained.append(argv[argv.index("--out") + 1]),
                                                                fake_run(Path(trained[-1]))))
    sweep.run_plan("step_label_noise", [0, 1], tmp_path / "runs", tmp_path / "s.json",
                   methods=["grpo_process_noise0.3", "grpo_process_noise0.1"])
    assert [Path(t).relative_to(tmp_path / "runs").as_posix() for t in trained] == [
        "grpo_process_noise0.3/seed0", "grpo_process_noise0.1/seed0",
        "grpo_process_noise0.3/seed1", "grpo_process_noise0.1/seed1"]
    with pytest.raises(ValueError, match="no method 'ppo'; its methods: grpo_process_noise0.1"):
        sweep.run_plan("step_label_noise", [0], tmp_path / "runs", tmp_path / "s.json", methods=["ppo"])


def test_a_longer_tasks_runs_are_evaluated_with_its_completion_budget(tmp_path, monkeypatch):
    budgets = []
    monkeypatch.setattr(subprocess, "run", lambda argv, check: fake_run(Path(argv[argv.index("--out") + 1])))
    monkeypatch.setattr(sweep, "final_eval", lambda checkpoint, data, max_new_tokens: budgets.append(max_new_tokens))
    sweep.run_plan("credit_steps7", [0], tmp_path / "runs", tmp_path / "s.json", methods=["grpo_outcome"])
    sweep.run_plan("credit", [0], tmp_path / "runs3", tmp_path / "s.json", methods=["grpo_outcome"])
    assert budgets == [plans.TASKS["steps7"].max_new_tokens, 32] and plans.TASKS["steps7"].max_new_tokens > 32


def test_unknown_plan_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown plan 'nope'"):
        sweep.run_plan("nope", [0], tmp_path, tmp_path / "s.json")


def test_the_summary_file_alone_resumes_a_sweep(tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr(subprocess, "run", lambda argv, check: (trained.append(argv),
                                                                fake_run(Path(argv[argv.index("--out") + 1]))))
    out = tmp_path / "summary.json"
    sweep.run_plan("step_label_noise", [0], tmp_path / "a", out)
    assert len(trained) == 3
    sweep.run_plan("step_label_noise", [0, 1], tmp_path / "b", out)  # the first runs' folders are not there
    assert len(trained) == 6 and all("seed1" in argv[-1] for argv in trained[3:])
    runs = results.plan_runs("step_label_noise", out)
    assert all(list(seeds) == ["0", "1"] for seeds in runs.values()) and len(runs) == 3


def test_a_stopped_run_resumes_from_its_checkpoint_and_a_partial_folder_is_never_summarized(tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr(subprocess, "run", lambda argv, check: (trained.append(argv),
                                                                fake_run(Path(argv[argv.index("--out") + 1]))))
    runs = tmp_path / "runs"
    fake_run(runs / "grpo_process_noise0.1" / "seed0.partial")  # stopped after its policy.pt, before the move
    # the checkpoint of step 2: the two steps an earlier sitting took, 3 s and 4 s
    atomic_save({"format": FORMAT, "records": [{"step": 1, "wall_s": 3.0}, {"step": 2, "wall_s": 4.0}]},
                runs / "grpo_process_noise0.1" / "seed0.partial" / "checkpoint.pt")
    sweep.run_plan("step_label_noise", [0], runs, tmp_path / "summary.json")
    flags = [argv[argv.index("--seed") + 2:argv.index("--out")] for argv in trained]
    assert flags == [["--overwrite", "--resume"], ["--overwrite"], ["--overwrite"]]  # no policy.pt: nothing to lose
    records = results.plan_runs("step_label_noise", tmp_path / "summary.json")
    assert list(records["grpo_process_noise0.1"]) == ["0"]
    # the resumed run's time: this sitting (a faked, instant run) and the 7 s of the steps before its checkpoint
    assert 7.0 <= records["grpo_process_noise0.1"]["0"]["sweep_s"] < 8.0
    assert records["grpo_process_noise0.3"]["0"]["sweep_s"] < 1.0


def test_a_run_that_fails_stops_the_sweep_with_one_line(tmp_path, monkeypatch):
    def failing(argv, check):
        raise subprocess.CalledProcessError(2, argv)

    monkeypatch.setattr(subprocess, "run", failing)
    with pytest.raises(ValueError, match="grpo_process_noise0.1 seed 0 failed \\(exit 2\\)"):
        sweep.run_plan("step_label_noise", [0], tmp_path / "runs", tmp_path / "summary.json")


def test_a_summary_names_the_cpu_it_was_trained_on(tmp_path, monkeypatch):
    fake_run(tmp_path / "run")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: Example\nmodel name\t: Example CPU 9000 @ 3.00GHz\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(cpuinfo if path == "/proc/cpuinfo" else path,
                                                                         *a, **k))
    assert sweep.summarize(tmp_path / "run")["cpu"] == "Example CPU 9000 @ 3.00GHz"
    # a run whose run.json says it was trained elsewhere keeps that CPU when summarized again here
    (tmp_path / "run" / "run.json").write_text(json.dumps({"cpu": "Other CPU 1000", "threads": 2}))
    assert sweep.summarize(tmp_path / "run")["cpu"] == "Other CPU 1000"


def test_every_plan_has_its_seeds_and_a_reproduction_trains_each_seed_once_seed_0_first():
    assert set(plans.SEEDS) == set(plans.PLANS) and all(plans.SEEDS.values())
    schedule = plans.schedule()
    trained = [(plan, seed) for plan, seeds in schedule for seed in seeds]
    assert sorted(trained) == sorted((plan, seed) for plan, seeds in plans.SEEDS.items() for seed in seeds)
    assert [seed for _, seed in trained[:len(plans.PLANS)]] == [0] * len(plans.PLANS)  # every table before seed 1
    for plan in plans.PLANS:  # each plan's seeds in increasing order
        assert [seed for p, seed in trained if p == plan] == sorted(plans.SEEDS[plan])


def test_the_sweep_command_trains_each_plan_over_its_seeds_in_the_order_named(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(sweep, "run_plan", lambda plan, seeds, runs, out, extra, methods, data: calls.append(
        (plan, seeds, runs, methods)))
    assert main(["sweep", "controls", "step_label_noise", "--runs", str(tmp_path)]) == 0
    assert calls == [("controls", plans.SEEDS["controls"], tmp_path / "controls", None),
                     ("step_label_noise", plans.SEEDS["step_label_noise"], tmp_path / "step_label_noise", None)]
    assert main(["sweep", "variants", "--seeds", "7", "--methods", "dapo", "--runs", str(tmp_path)]) == 0
    assert calls[-1] == ("variants", [7], tmp_path / "variants", ["dapo"])


def test_the_sweep_command_refuses_methods_of_several_plans_before_training(monkeypatch, capsys):
    monkeypatch.setattr(sweep, "run_plan", lambda *args: pytest.fail("trained"))
    assert main(["sweep", "credit", "controls", "--methods", "ppo"]) == 2
    assert "--methods names methods of one plan" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sweep", "nope"])
