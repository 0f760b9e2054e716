"""The run folder: transactional (<out> changes only when a run finishes, and never without --overwrite), it
records what its numbers depend on beyond the config, and a run stopped and resumed ends where a run that never
stopped ends, bit for bit; a non-finite number stops it."""

import copy
import json
import math
from dataclasses import asdict

import pytest
import torch

from minigrpo.checkpoint import atomic_load
from minigrpo.config import GRPOConfig
from minigrpo.lab.config import LabGRPOConfig, LabPPOConfig
from minigrpo.lab.loop import train as lab_train
from minigrpo.lab.runs import CHECKPOINT, FORMAT, Checkpoints, RunFolder, TrainingState, read_metrics

CFG = {"grpo": GRPOConfig(steps=4)}


def finished_run(out, note="first"):
    run = RunFolder(out, CFG, overwrite=True)
    run.log({"step": 0, "note": note})
    (run.path / "policy.pt").write_text(note)
    run.finish()
    return {p.name: p.read_bytes() for p in out.iterdir()}


def test_a_run_writes_beside_out_and_moves_into_place_only_when_it_finishes(tmp_path):
    out = tmp_path / "run"
    run = RunFolder(out, CFG)
    run.log({"step": 0})
    assert run.path == tmp_path / "run.partial" and not out.exists()
    assert json.loads((run.path / "config.json").read_text())["grpo"]["steps"] == 4
    run.finish()
    assert run.path == out and not (tmp_path / "run.partial").exists()
    assert read_metrics(out / "metrics.jsonl") == [{"step": 0}]


def test_a_folder_that_holds_a_run_is_refused_without_overwrite_and_replaced_only_at_the_end(tmp_path):
    out = tmp_path / "run"
    before = finished_run(out)
    with pytest.raises(ValueError, match="holds a run already: --overwrite"):
        RunFolder(out, CFG)
    run = RunFolder(out, {"grpo": GRPOConfig(steps=9)}, overwrite=True)
    run.log({"step": 0, "note": "second"})
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # until the new run finishes
    run.finish()
    assert read_metrics(out / "metrics.jsonl") == [{"step": 0, "note": "second"}]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no .partial, no .replaced left


@pytest.mark.parametrize("where, message", [
    ("file", "is a file, not a folder"),
    ("file/run", "is a file, not a folder"),
    ("file/deeper/run", "is a file, not a folder"),
    ("other", "holds no run"),
])
def test_out_must_be_a_folder_for_runs(tmp_path, where, message):
    (tmp_path / "file").write_text("x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=message):
        RunFolder(tmp_path / where, CFG, overwrite=True)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_an_empty_folder_and_a_trailing_slash_are_fine(tmp_path):
    (tmp_path / "empty").mkdir()
    RunFolder(str(tmp_path / "empty") + "/", CFG).finish()
    assert (tmp_path / "empty" / "config.json").is_file()


def test_a_stopped_run_with_a_checkpoint_is_resumed_or_overwritten_never_silently_replaced(tmp_path):
    out = tmp_path / "run"
    run = RunFolder(out, CFG)
    (run.path / CHECKPOINT).write_bytes(b"state")
    with pytest.raises(ValueError, match="holds a stopped run: --resume continues it, --overwrite starts afresh"):
        RunFolder(out, CFG)
    resumed = RunFolder(out, {"grpo": GRPOConfig(steps=8)}, resume=True)  # only the steps may change
    assert (resumed.path / CHECKPOINT).read_bytes() == b"state"
    with pytest.raises(ValueError, match="grpo.lr, grpo.seed differ from .*only --steps may change"):
        RunFolder(out, {"grpo": GRPOConfig(lr=1e-3, seed=1)}, resume=True)
    RunFolder(out, CFG, overwrite=True)
    assert not (run.path / CHECKPOINT).exists()


def test_a_switch_added_to_the_code_since_the_run_stopped_resumes_at_its_default_and_only_there(tmp_path):
    out = tmp_path / "run"
    run = RunFolder(out, CFG)
    (run.path / CHECKPOINT).write_bytes(b"state")
    saved = json.loads((run.path / "config.json").read_text())
    del saved["grpo"]["lr"]  # as if lr were a field added after this run was started
    (run.path / "config.json").write_text(json.dumps(saved))
    RunFolder(out, CFG, resume=True)  # the absent field at its default: the run it started as
    with pytest.raises(ValueError, match="grpo.lr differ from"):
        RunFolder(out, {"grpo": GRPOConfig(lr=1e-3)}, resume=True)


def test_resume_without_a_checkpoint_is_refused_and_a_run_without_one_is_simply_restarted(tmp_path):
    with pytest.raises(ValueError, match="holds no checkpoint"):
        RunFolder(tmp_path / "run", CFG, resume=True)
    RunFolder(tmp_path / "run", CFG).log({"step": 0})  # stopped before its first checkpoint
    RunFolder(tmp_path / "run", CFG)
    assert read_metrics(tmp_path / "run.partial" / "metrics.jsonl") == []


# What a run's numbers depend on beyond its config: run.json (tests/test_cli.py checks a whole run's)


def test_run_json_records_the_threads_and_the_processes_the_run_was_started_with(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")  # as torchrun sets it for each of 3 processes; process 0 writes the folder
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = RunFolder(tmp_path / "run", CFG)
    finally:
        torch.set_num_threads(threads)
    run.finish()
    recorded = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (recorded["threads"], recorded["processes"], recorded["torch"]) == (1, 3, torch.__version__)
    assert set(recorded) == {"cpu", "avx512", "torch", "threads", "processes", "code"}
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config == {"grpo": asdict(CFG["grpo"])}  # the provenance is not part of the config


def test_a_run_resumed_on_another_machine_is_not_refused_but_says_so_and_records_both(tmp_path, capsys):
    run = RunFolder(tmp_path / "run", CFG)
    (run.path / CHECKPOINT).write_bytes(b"state")
    started = json.loads((run.path / "run.json").read_text())
    elsewhere = {**started, "cpu": "Another CPU 9000", "avx512": not started["avx512"], "threads": 64}
    (run.path / "run.json").write_text(json.dumps(elsewhere))
    RunFolder(tmp_path / "run", {"grpo": GRPOConfig(steps=8)}, resume=True)  # the config decides, not the machine
    note = capsys.readouterr().err
    assert note.startswith("note: resuming") and note.count("\n") == 1
    changes = note.split("on another machine (")[1].split("):")[0].split(", ")
    assert [change.split()[0] for change in changes] == ["cpu", "avx512", "threads"]  # only what differs
    assert f"cpu {started['cpu']!r} (was 'Another CPU 9000')" in changes
    recorded = json.loads((run.path / "run.json").read_text())
    assert {k: v for k, v in recorded.items() if k != "resumed"} == elsewhere  # where the run started
    assert recorded["resumed"] == [started]  # and where it went on: here
    RunFolder(tmp_path / "run", CFG, resume=True)  # resumed again, here: nothing to say
    assert capsys.readouterr().err == ""
    assert json.loads((run.path / "run.json").read_text())["resumed"] == [started, started]


def test_reading_the_metrics_of_a_folder_that_holds_no_run_names_it(tmp_path):
    with pytest.raises(ValueError, match="holds no finished run"):
        read_metrics(tmp_path / "nothing" / "metrics.jsonl")


# Stopping and resuming, in the lab's loop (the paper's loops in minigrpo/grpo and minigrpo/ppo take no checkpoints)

# mu = 2, so the ratio moves off 1 and AdamW's moments matter; an evaluation at every other step
SMALL = dict(steps=4, prompts_per_step=4, group_size=4, num_inner_steps=2, lr=1e-3, max_new_tokens=10, eval_every=2)
RUNS = {  # kind -> (config, the step after which Ctrl-C stops it; the checkpoint is the step before)
    # pi_ref <- pi_theta before step 4, so after the checkpoint of step 4 pi_ref is not the warm start
    "grpo": (LabGRPOConfig(**{**SMALL, "steps": 6}, ref_reset_every=3), 5),
    "grpo_process": (LabGRPOConfig(**SMALL, supervision="process", step_label_noise=0.3), 3),  # label flips
    "ppo": (LabPPOConfig(**SMALL), 3),  # the critic and its optimizer
}


def train(kind, model, train_set, folder, stop_after=None, resume=False, poison_step=None):
    """Train in a run folder, saving every 2 steps; Ctrl-C (KeyboardInterrupt) after ``stop_after`` is logged."""
    cfg, _ = RUNS[kind]
    run = RunFolder(folder, {"model": model.cfg, "rl": cfg}, resume=resume)

    def log(record):
        if record["step"] == poison_step:
            record["loss"] = math.nan
        run.log(record)
        if record["step"] == stop_after:
            raise KeyboardInterrupt

    with Checkpoints(run, every=2) as checkpoints:
        critic = lab_train(model, cfg, train_set, train_set[:4], log=log, progress=False, checkpoints=checkpoints)
    run.finish()
    return run.records, critic


def without_seconds(records):
    return [{k: v for k, v in r.items() if not k.endswith("_s")} for r in records]


@pytest.mark.parametrize("kind", RUNS)
def test_a_stopped_and_resumed_run_ends_bit_for_bit_where_a_straight_run_ends(easy_warm_start, tmp_path, kind):
    warm, train_set = easy_warm_start
    straight_policy = copy.deepcopy(warm)
    straight, straight_out = train(kind, straight_policy, train_set, tmp_path / "straight")

    stop_after = RUNS[kind][1]
    with pytest.raises(KeyboardInterrupt):
        train(kind, copy.deepcopy(warm), train_set, tmp_path / "resumed", stop_after=stop_after)
    assert not (tmp_path / "resumed").exists()
    assert atomic_load(tmp_path / "resumed.partial" / CHECKPOINT, FORMAT)["step"] == stop_after - 1

    resumed_policy = copy.deepcopy(warm)  # as a new process would: the warm start, then the checkpoint
    resumed, resumed_out = train(kind, resumed_policy, train_set, tmp_path / "resumed", resume=True)

    assert [r["step"] for r in resumed] == list(range(RUNS[kind][0].steps + 1))
    assert without_seconds(resumed) == without_seconds(straight)
    assert (tmp_path / "resumed" / "metrics.jsonl").read_text().count("\n") == len(straight)  # each step once
    for a, b in zip(straight_policy.state_dict().values(), resumed_policy.state_dict().values()):
        assert torch.equal(a, b)
    if kind == "ppo":  # the loop returns PPO's critic
        for a, b in zip(straight_out.state_dict().values(), resumed_out.state_dict().values()):
            assert torch.equal(a, b)


def test_a_non_finite_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(easy_warm_start,
                                                                                            tmp_path):
    warm, train_set = easy_warm_start
    with pytest.raises(FloatingPointError, match="step 3: loss is nan") as err:
        train("grpo_process", copy.deepcopy(warm), train_set, tmp_path / "run", poison_step=3)
    assert not (tmp_path / "run").exists()  # never promoted
    saved = atomic_load(tmp_path / "run.partial" / CHECKPOINT, FORMAT)
    assert saved["step"] == 2 and [r["step"] for r in saved["records"]] == [0, 1, 2]
    assert "keeps the checkpoint of step 2: --resume repeats the same steps" in err.value.__notes__[0]


def test_without_a_run_folder_the_loop_still_stops_at_a_non_finite_gradient_norm(easy_warm_start):
    warm, train_set = easy_warm_start

    def log(record):
        if record["step"] == 1:
            record["grad_norm"] = math.inf

    with pytest.raises(FloatingPointError, match="step 1: grad_norm is inf"):
        lab_train(copy.deepcopy(warm), RUNS["grpo_process"][0], train_set, train_set[:4], log=log, progress=False)


def test_weights_that_are_not_finite_are_never_saved(easy_warm_start, tmp_path):
    policy = copy.deepcopy(warm := easy_warm_start[0])
    state = TrainingState(policy, copy.deepcopy(warm), torch.optim.AdamW(policy.parameters()),
                          torch.Generator(), __import__("random").Random(0))
    run = RunFolder(tmp_path / "run", {"rl": GRPOConfig()})
    with torch.no_grad():
        policy.ln_f.weight[0] = math.nan
    with pytest.raises(FloatingPointError, match="step 2: policy.ln_f.weight holds a nan"):
        Checkpoints(run, every=2).step_done({"step": 2, "loss": 0.0, "grad_norm": 1.0}, state)
    assert not (run.path / CHECKPOINT).exists()


def test_resume_refuses_a_checkpoint_past_the_steps_asked_for(easy_warm_start, tmp_path):
    warm, train_set = easy_warm_start
    with pytest.raises(KeyboardInterrupt):
        train("grpo_process", copy.deepcopy(warm), train_set, tmp_path / "run", stop_after=3)
    fewer = LabGRPOConfig(**{**SMALL, "steps": 1}, supervision="process", step_label_noise=0.3)
    run = RunFolder(tmp_path / "run", {"model": warm.cfg, "rl": fewer}, resume=True)
    with pytest.raises(ValueError, match="at step 2, past --steps 1"):
        lab_train(copy.deepcopy(warm), fewer, train_set, train_set[:4], log=run.log, progress=False,
                  checkpoints=Checkpoints(run, every=2))
