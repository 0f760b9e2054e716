"""The run folder is transactional: <out> changes only when a run finishes, and never without --overwrite."""

import json

import pytest

from minigrpo.config import GRPOConfig
from minigrpo.runtime import CHECKPOINT, RunFolder, read_metrics

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


def test_resume_without_a_checkpoint_is_refused_and_a_run_without_one_is_simply_restarted(tmp_path):
    with pytest.raises(ValueError, match="holds no checkpoint"):
        RunFolder(tmp_path / "run", CFG, resume=True)
    RunFolder(tmp_path / "run", CFG).log({"step": 0})  # stopped before its first checkpoint
    RunFolder(tmp_path / "run", CFG)
    assert read_metrics(tmp_path / "run.partial" / "metrics.jsonl") == []


def test_reading_the_metrics_of_a_folder_that_holds_no_run_names_it(tmp_path):
    with pytest.raises(ValueError, match="holds no finished run"):
        read_metrics(tmp_path / "nothing" / "metrics.jsonl")
