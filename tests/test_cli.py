"""The command line: JSON results, run folders, and clear errors for bad input."""

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import minigrpo
from minigrpo.checkpoint import load_checkpoint, save_checkpoint
from minigrpo.config import ModelConfig, TaskConfig
from minigrpo.lab.cli import main
from minigrpo.lab.runs import read_metrics
from minigrpo.model import GPT
from minigrpo.task import make_splits, write_jsonl

REPO = Path(__file__).resolve().parent.parent


def small_data(tmp_path):
    train, test = make_splits(TaskConfig(num_operands=2, n_train=64, n_test=16))
    write_jsonl(train, tmp_path / "train.jsonl")
    write_jsonl(test, tmp_path / "test.jsonl")
    torch.manual_seed(0)
    save_checkpoint(GPT(ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=40)), tmp_path / "init.pt")


def test_eval_prints_accuracy_json_as_its_last_line(tmp_path, capsys):
    small_data(tmp_path)
    assert main(["eval", "--checkpoint", str(tmp_path / "init.pt"), "--data", str(tmp_path), "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == 16 and 0.0 <= result["accuracy"] <= 1.0


def test_grpo_writes_a_run_folder(tmp_path, capsys):
    small_data(tmp_path)
    out = tmp_path / "run"
    args = ["grpo", "--init", str(tmp_path / "init.pt"), "--data", str(tmp_path), "--out", str(out),
            "--steps", "2", "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "8", "--device", "cpu"]
    assert main(args) == 0
    assert {p.name for p in out.iterdir()} == {"config.json", "run.json", "metrics.jsonl", "policy.pt"}
    assert json.loads((out / "config.json").read_text())["grpo"]["group_size"] == 2
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 1, 2]
    assert "accuracy_after" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def independent_cpu() -> tuple[str, bool | None]:
    """The CPU's model name and AVX-512 flag as /proc/cpuinfo states them (None where there is no such file)."""
    info = Path("/proc/cpuinfo")
    if not info.is_file():
        return platform.processor() or platform.machine(), None
    lines = [line.split(":", 1) for line in info.read_text().splitlines() if ":" in line]
    name = next((v.strip() for k, v in lines if k.strip() == "model name"), platform.processor() or platform.machine())
    flags = next((v.split() for k, v in lines if k.strip() == "flags"), None)
    return name, None if flags is None else "avx512f" in flags


def test_a_finished_run_records_what_its_numbers_depend_on_beyond_the_config(tmp_path, capsys, monkeypatch):
    small_data(tmp_path)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(train_args(tmp_path, steps=1)) == 0
    finally:
        torch.set_num_threads(threads)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    name, avx512 = independent_cpu()
    assert run["cpu"] == name and (avx512 is None or run["avx512"] is avx512)
    assert (run["torch"], run["threads"], run["processes"]) == (torch.__version__, 1, 1)
    git = lambda *args: subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)  # noqa: E731
    head = git("rev-parse", "HEAD")
    if head.returncode == 0:
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip() != ""
        assert run["code"] == head.stdout.strip() + "+dirty" * dirty
    else:
        assert run["code"] == minigrpo.__version__
    assert "resumed" not in run


def test_bad_input_exits_with_a_message_naming_the_problem(tmp_path, capsys):
    small_data(tmp_path)
    assert main(["grpo", "--group-size", "1", "--init", str(tmp_path / "init.pt")]) == 2
    assert "group_size" in capsys.readouterr().err
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    assert main(["eval", "--checkpoint", str(tmp_path / "broken.pt"), "--data", str(tmp_path)]) == 2
    assert "corrupt" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(tmp_path / "init.pt"), "--device", "tpu", "--data", str(tmp_path)]) == 2
    assert "device" in capsys.readouterr().err


def test_ppo_writes_a_run_folder_with_its_critic(tmp_path, capsys):
    small_data(tmp_path)
    out = tmp_path / "ppo"
    args = ["ppo", "--init", str(tmp_path / "init.pt"), "--data", str(tmp_path), "--out", str(out),
            "--steps", "2", "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "8", "--device", "cpu"]
    assert main(args) == 0
    assert {p.name for p in out.iterdir()} == {"config.json", "run.json", "metrics.jsonl", "policy.pt", "critic.pt"}
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"value_loss", "explained_variance", "test_accuracy"} <= set(last)
    # a critic checkpoint is not a policy: loading it as one names the mix-up
    assert main(["eval", "--checkpoint", str(out / "critic.pt"), "--data", str(tmp_path)]) == 2
    assert "holds a ValueModel, not a GPT" in capsys.readouterr().err


def test_quick_bench_prints_every_part_and_writes_json(tmp_path, capsys):
    small_data(tmp_path)
    args = ["bench", "--quick", "--init", str(tmp_path / "init.pt"), "--data", str(tmp_path),
            "--out", str(tmp_path / "bench")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    for heading in ("(a) generation", "(b) one GRPO step", "(c) GRPO vs PPO", "(d) each phase"):
        assert heading in printed
    assert "PPO / GRPO" in printed and "VinePPO / GRPO" in printed and "seconds per step" in printed
    summary = json.loads((tmp_path / "bench" / "bench.json").read_text())
    assert summary["settings"]["steps"] == 2 and summary["settings"]["group_size"] == 2
    # PPO holds a critic as big as the policy (plus a value head): more parameters than GRPO
    vs = summary["grpo_vs_ppo"]
    assert vs["ppo"]["parameters_held"] > 1.4 * vs["grpo"]["parameters_held"]
    assert vs["vineppo"]["parameters_held"] == vs["grpo"]["parameters_held"]  # VinePPO samples, it holds no critic
    # with and without the KV cache, the same seed samples the same tokens
    assert all(g["cached_tokens"] == g["uncached_tokens"] > 0 for g in summary["generation"])
    assert [g["completions"] for g in summary["generation"]] == [2 * 2, 2 * 4]
    flops = summary["flops"]
    assert flops["sequences"] == 4 and flops["matmul_flop_per_s"] > 0
    for phase in ("sampling", "reference", "training"):  # --fast computes fewer FLOPs: the prompt once per group
        assert 0 < flops["phases"][phase]["fast"]["flops"] < flops["phases"][phase]["today"]["flops"]
    assert set(summary["grpo_fast_step_phases"]["parts"]) == set(summary["grpo_step_phases"]["parts"])


def test_bench_flags_override_quick(tmp_path, capsys):
    small_data(tmp_path)
    args = ["bench", "--quick", "--group-size", "1", "--init", str(tmp_path / "init.pt"), "--data", str(tmp_path)]
    assert main(args) == 2
    assert "group_size" in capsys.readouterr().err


def made_up_run(folder):
    """A run folder as grpo writes it, with a short made-up metrics history."""
    folder.mkdir()
    records = [{"step": 0, "test_accuracy": 0.4}] + [
        {"step": s, "reward_mean": 0.3 + 0.1 * s, "kl": 0.01, "zero_spread_frac": 0.5, "wall_s": 0.5,
         **({"test_accuracy": 0.5} if s == 2 else {})} for s in (1, 2)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def test_figures_of_a_run_go_into_its_folder_never_into_the_repositorys_figures(tmp_path, capsys):
    tracked = {p.name: p.read_bytes() for p in (REPO / "figures").iterdir()}
    run = made_up_run(tmp_path / "grpo")
    assert main(["figures", "--run", str(run), "--ppo-run", str(tmp_path / "no-ppo-run")]) == 0
    written = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["figures"]
    assert written == [str(run / "grpo_learning_curves.png")] and (run / "grpo_learning_curves.png").stat().st_size
    assert {p.name: p.read_bytes() for p in (REPO / "figures").iterdir()} == tracked


def test_figures_with_a_ppo_run_draw_the_comparison_and_the_token_strips(tmp_path, capsys):
    # Run folders as grpo and ppo write them, holding the shipped PPO checkpoints (the strips need a
    # policy with right and wrong answers) and a short made-up metrics history.
    data = REPO / "data"
    grpo, ppo = made_up_run(tmp_path / "grpo"), made_up_run(tmp_path / "ppo")
    shutil.copy(data / "ppo_policy.pt", ppo / "policy.pt")
    shutil.copy(data / "ppo_critic.pt", ppo / "critic.pt")
    out = tmp_path / "figures"
    assert main(["figures", "--run", str(grpo), "--ppo-run", str(ppo), "--out", str(out)]) == 0
    written = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["figures"]
    names = ["grpo_learning_curves.png", "grpo_vs_ppo.png", "accuracy_vs_time.png", "token_credit.png"]
    assert written == [str(out / name) for name in names]
    assert all((out / name).stat().st_size > 10_000 for name in names)


def test_help_prints_every_fields_help_line(capsys):
    from dataclasses import fields

    from minigrpo.config import GRPOConfig

    with pytest.raises(SystemExit) as exit_:
        main(["grpo", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for f in fields(GRPOConfig):
        assert "--" + f.name.replace("_", "-") in text
        assert " ".join(f.metadata["help"].split()) in text, f.name


def test_flags_are_parsed_into_real_types():
    from minigrpo.lab.cli import build_parser, config_from
    from minigrpo.lab.config import LabGRPOConfig, LabPPOConfig

    args = build_parser().parse_args(["grpo", "--reward-weights", "correct=1, format=0.5,length=2e-1",
                                      "--aggregation", "dapo", "--clip-eps-high", "0.28", "--ref-reset-every", "50"])
    cfg = config_from(LabGRPOConfig, args)
    assert cfg.reward_weights == {"correct": 1.0, "format": 0.5, "length": 0.2}
    assert (cfg.aggregation, cfg.clip_eps_high, cfg.ref_reset_every) == ("dapo", 0.28, 50)
    flags = ([], ["--no-whiten-advantages"])
    ppo = [config_from(LabPPOConfig, build_parser().parse_args(["ppo", *flag])) for flag in flags]
    assert [cfg.whiten_advantages for cfg in ppo] == [True, False]


@pytest.mark.parametrize("text", ["correct", "correct=x", "correct=1,correct=2", "correct=1,", ""])
def test_malformed_reward_weights_are_refused_at_the_command_line(capsys, text):
    with pytest.raises(SystemExit) as exit_:
        main(["grpo", "--reward-weights", text])
    assert exit_.value.code == 2 and "name=weight pairs" in capsys.readouterr().err


def test_unknown_reward_component_is_refused_by_the_config(capsys):
    assert main(["grpo", "--reward-weights", "speed=1"]) == 2
    assert "reward_weights must map names from" in capsys.readouterr().err


def test_help_works_where_the_unix_only_resource_module_is_missing(tmp_path):
    # Windows has no `resource`; only the bench needs it, inside its command. None in sys.modules makes
    # `import resource` fail, as it does there. --help must not import torch either (it is slow to load).
    code = ("import sys; sys.modules['resource'] = None\n"
            "from minigrpo.lab.cli import main\n"
            "for cmd in (['--help'], ['grpo', '--help'], ['bench', '--help']):\n"
            "    try:\n"
            "        main(cmd)\n"
            "    except SystemExit as e:\n"
            "        assert e.code == 0, cmd\n"
            "assert 'torch' not in sys.modules, 'torch was imported for --help'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warmup" in result.stdout and "--ref-reset-every" in result.stdout and "--matmul-size" in result.stdout


def test_the_command_lines_data_folder_is_the_tasks():
    from minigrpo.lab import cli
    from minigrpo.task import DATA_DIR

    assert cli.DATA_DIR == DATA_DIR  # written twice, so that --help need not import task.py (and torch)


# Mistakes as users make them: each is one line on stderr, a non-zero exit, and no run folder harmed.

TINY = ["--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "8", "--device", "cpu"]


def train_args(tmp_path, *more, command="grpo", steps=2):
    return [command, "--init", str(tmp_path / "init.pt"), "--data", str(tmp_path), "--out", str(tmp_path / "run"),
            "--steps", str(steps), *TINY, *more]


def one_line_error(capsys, argv, code, *fragments) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]) and "Traceback" not in err, err
    assert all(fragment in errors[0] for fragment in fragments), errors[0]
    return errors[0]


def folder_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("flags, message", [
    (["--lr", "inf"], "lr must be a finite number, got inf"),
    (["--kl-coef", "1e400"], "kl_coef must be a finite number, got inf"),
    (["--adv-eps", "inf"], "adv_eps must be a finite number"),
    (["--clip-eps", "nan"], "clip_eps must be a finite number"),
    (["--temperature", "1e-40"], "temperature must be in [0.001, 1000], got 1e-40"),
    (["--save-every", "0"], "--save-every must be at least 1"),
    (["--prompts-per-step", "100"], "train.jsonl holds 64 problems, fewer than the 100 drawn per step"),
    (["--max-new-tokens", "40"], "block_size 40 is too small: the longest prompt plus 40 new tokens needs 44"),
])
def test_bad_numbers_are_refused_before_a_run_folder_is_made(tmp_path, capsys, flags, message):
    small_data(tmp_path)
    one_line_error(capsys, train_args(tmp_path, *flags), 2, message)
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_paths_that_are_wrong_are_one_line_each(tmp_path, capsys, monkeypatch):
    small_data(tmp_path)
    (tmp_path / "file").write_text("x")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    for out, message in [("file", "file is a file, not a folder"), ("file/run", "file is a file, not a folder"),
                         ("mine", "holds no run (no config.json)")]:
        one_line_error(capsys, train_args(tmp_path, "--out", str(tmp_path / out)), 2, message)
    one_line_error(capsys, train_args(tmp_path, "--data", str(tmp_path / "nope")), 2, "nope/train.jsonl does not exist")
    one_line_error(capsys, ["eval", "--checkpoint", str(tmp_path / "init.pt"), "--data", str(tmp_path / "nope")], 2,
                   "nope/test.jsonl does not exist")
    one_line_error(capsys, ["figures", "--run", str(tmp_path / "nope"), "--out", str(tmp_path / "figs")], 2,
                   "nope holds no finished run")
    assert not (tmp_path / "figs").exists()
    one_line_error(capsys, ["data", "--n-train", "8", "--n-test", "4", "--out", str(tmp_path / "file" / "splits")], 1,
                   "Not a directory")

    def unwritable(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr("pathlib.Path.mkdir", unwritable)
    one_line_error(capsys, train_args(tmp_path, "--out", "/root-only/run"), 1, "Permission denied", "run.partial")


def split_lines(tmp_path, lines):
    (tmp_path / "train.jsonl").write_bytes(b"".join(lines))


GOOD = b'{"problem": "1+2", "solution": "1+2=3;#3", "answer": 3}\n'


@pytest.mark.parametrize("lines, message", [
    ([], "train.jsonl holds no problems"),
    ([b"\n"], "train.jsonl holds no problems"),
    ([GOOD, b'{"problem": "1+2", "solution": "1+2=3;#3"}\n'], 'train.jsonl:2: no "answer"'),
    ([GOOD, b"garbage\n"], "train.jsonl:2: not JSON (Expecting value at column 1)"),
    ([GOOD, GOOD, b'{"problem": "1+2", "answer": 3'], "train.jsonl:3: not JSON"),
    ([GOOD, '{"problem": "١+٢", "answer": 3}\n'.encode()], "train.jsonl:2: not ASCII (byte 0xd9 in column 14)"),
    ([b'["1+2", 3]\n'], 'train.jsonl:1: not a JSON object with a "problem" string'),
    ([b'{"problem": 12, "answer": 3}\n'], 'train.jsonl:1: not a JSON object with a "problem" string'),
    ([b'{"problem": "1+2+", "answer": 3}\n'], "train.jsonl:1: not a problem: '1+2+'"),
    ([b'{"problem": "1+2", "answer": "3"}\n'], "train.jsonl:1: stored answer '3' != 3"),
])
def test_a_bad_split_file_is_one_line_naming_the_file_and_the_line(tmp_path, capsys, lines, message):
    small_data(tmp_path)
    split_lines(tmp_path, lines)
    one_line_error(capsys, train_args(tmp_path), 2, message)
    one_line_error(capsys, ["eval", "--checkpoint", str(tmp_path / "init.pt"), "--data", str(tmp_path),
                            "--split", "train"], 2, message)


@pytest.mark.parametrize("edit, message", [
    (lambda p: p.pop("model_config"), "has no model_config"),
    (lambda p: p["model_config"].update(n_embd=32), "does not fit its own model config"),
    (lambda p: p["model_config"].update(vocab_size=12) or p["state_dict"].update(
        {k: v[:12] for k, v in p["state_dict"].items() if k in ("tok_emb.weight", "head.weight")}),
     "vocab_size is 12, the tokenizer has 20 tokens"),
    (lambda p: p["model_config"].update(block_size=10) or p["state_dict"].update(
        {"pos_emb.weight": p["state_dict"]["pos_emb.weight"][:10]}), "block_size 10 is too small"),
    (lambda p: p["state_dict"]["ln_f.weight"].fill_(float("nan")), "holds a nan or an inf in ln_f.weight"),
])
def test_a_checkpoint_that_does_not_fit_is_one_line_for_eval_and_for_training(tmp_path, capsys, edit, message):
    small_data(tmp_path)
    payload = torch.load(tmp_path / "init.pt", weights_only=True)
    edit(payload)
    torch.save(payload, tmp_path / "init.pt")
    one_line_error(capsys, ["eval", "--checkpoint", str(tmp_path / "init.pt"), "--data", str(tmp_path)], 2, message)
    one_line_error(capsys, train_args(tmp_path), 2, message)


def test_a_rerun_that_fails_or_is_stopped_leaves_the_finished_run_as_it_was(tmp_path, capsys, monkeypatch):
    from minigrpo.lab.runs import RunFolder

    small_data(tmp_path)
    assert main(train_args(tmp_path)) == 0
    finished = folder_bytes(tmp_path / "run")
    one_line_error(capsys, train_args(tmp_path, "--steps", "3"), 2, "holds a run already: --overwrite replaces it")

    log = RunFolder.log

    def stopped_at_step_1(self, record):
        log(self, record)
        if record["step"] == 1:
            raise KeyboardInterrupt

    def diverged_at_step_1(self, record):
        if record["step"] == 1:
            record["loss"] = float("nan")
        log(self, record)

    for broken, code, message in [(stopped_at_step_1, 130, "error: interrupted; "),
                                  (diverged_at_step_1, 1, "error: step 1: loss is nan, training stopped")]:
        with monkeypatch.context() as patch:
            patch.setattr(RunFolder, "log", broken)
            line = one_line_error(capsys, train_args(tmp_path, "--overwrite", "--lr", "1e-2"), code, message)
        assert "holds no checkpoint yet" in line and "run is unchanged" in line
        assert folder_bytes(tmp_path / "run") == finished

    with monkeypatch.context() as patch:  # the disk fills up as the final policy is written
        patch.setattr("torch.save", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space left on device")))
        one_line_error(capsys, train_args(tmp_path, "--overwrite"), 1, "No space left on device")
    assert folder_bytes(tmp_path / "run") == finished
    load_checkpoint(tmp_path / "run" / "policy.pt")


def test_a_run_stopped_by_ctrl_c_resumes_through_the_command_line_to_the_same_end(tmp_path, capsys, monkeypatch):
    from minigrpo.lab.runs import RunFolder

    small_data(tmp_path)
    steps = ["--steps", "4", "--save-every", "2", "--eval-every", "2"]
    assert main(train_args(tmp_path, *steps, "--out", str(tmp_path / "straight"))) == 0
    log = RunFolder.log

    def stopped_at_step_3(self, record):
        log(self, record)
        if record["step"] == 3:
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(RunFolder, "log", stopped_at_step_3)
        one_line_error(capsys, train_args(tmp_path, *steps), 130, "run.partial keeps the checkpoint of step 2")
    one_line_error(capsys, train_args(tmp_path, *steps), 2, "holds a stopped run: --resume continues it")
    one_line_error(capsys, train_args(tmp_path, *steps, "--resume", "--lr", "1e-3"), 2, "grpo.lr differ")
    assert main(train_args(tmp_path, *steps, "--resume")) == 0
    strip = lambda path: [{k: v for k, v in r.items() if k != "wall_s"} for r in read_metrics(path)]  # noqa: E731
    assert strip(tmp_path / "run" / "metrics.jsonl") == strip(tmp_path / "straight" / "metrics.jsonl")
    assert {p.name for p in tmp_path.iterdir()} >= {"run", "straight"} and not (tmp_path / "run.partial").exists()
    a, b = (torch.load(tmp_path / run / "policy.pt", weights_only=True)["state_dict"] for run in ("straight", "run"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def start(tmp_path, *flags):
    """``python -m minigrpo grpo`` in its own process, Ctrl-C handled as in a terminal, this checkout imported."""
    argv = [sys.executable, "-m", "minigrpo", *train_args(tmp_path, "--steps", "100000", "--save-every", "1"), *flags]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_checkpoint(tmp_path, after: int = 0) -> int:
    from minigrpo.checkpoint import atomic_load
    from minigrpo.lab.runs import FORMAT

    path = tmp_path / "run.partial" / "checkpoint.pt"
    for _ in range(1200):
        time.sleep(0.1)
        if path.exists() and (step := atomic_load(path, FORMAT)["step"]) > after:
            return step
    raise AssertionError("no checkpoint after 2 minutes")


def test_sigint_and_sigkill_leave_the_finished_run_whole_and_the_stopped_one_resumable(tmp_path):
    small_data(tmp_path)
    assert main(train_args(tmp_path, "--steps", "1", "--eval-every", "1")) == 0
    finished = folder_bytes(tmp_path / "run")

    child = start(tmp_path, "--overwrite")
    wait_for_checkpoint(tmp_path)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130 and err.rstrip().splitlines()[-1].startswith("error: interrupted; ")
    assert "Traceback" not in err and folder_bytes(tmp_path / "run") == finished

    child = start(tmp_path, "--overwrite", "--resume")
    wait_for_checkpoint(tmp_path, after=wait_for_checkpoint(tmp_path))  # one more saved after resuming
    child.kill()  # SIGKILL: no handler runs
    child.communicate(timeout=120)
    assert folder_bytes(tmp_path / "run") == finished
    load_checkpoint(tmp_path / "run" / "policy.pt")

    step = wait_for_checkpoint(tmp_path)  # the newest checkpoint, whole whenever the kill came
    assert main(train_args(tmp_path, "--steps", str(step + 1), "--overwrite", "--resume")) == 0
    assert [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl")] == list(range(step + 2))
    assert not (tmp_path / "run.partial").exists()


def test_help_names_the_run_folder_flags_and_each_numbers_range(capsys):
    with pytest.raises(SystemExit):
        main(["ppo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ("--overwrite", "--resume", "--save-every", "<out>.partial", "(default: 0.0003; in (0, 1])",
                  "(default: 1.0; in [0.001, 1000])", "(default: 0.95; in [0, 1])"):
        assert words in text, words


def test_a_mistyped_flag_is_argparses_usage_and_one_error_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["grpo", "--stpes", "3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and err[-1] == "python -m minigrpo: error: unrecognized arguments: --stpes 3"
    assert err[0].startswith("usage:") and not any("Traceback" in line for line in err)


def test_a_reader_that_stops_reading_is_not_an_error():
    """`python -m minigrpo bugzoo --list | head -1`: the rest of the output has nowhere to go; exit 0, say nothing."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    child = subprocess.Popen([sys.executable, "-m", "minigrpo", "bugzoo", "--list"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # before the command writes a line: every write it makes finds no reader
    assert child.wait(timeout=60) == 0 and child.stderr.read() == b""


def test_localize_prints_each_steps_drop_and_the_critics_share(tmp_path, capsys, easy_warm_start):
    from minigrpo.ppo import ValueModel

    policy, problems = easy_warm_start  # about 1 sample in 6 right: first slips and right answers to pair
    write_jsonl(problems, tmp_path / "test.jsonl")
    save_checkpoint(policy, tmp_path / "policy.pt")
    critic = ValueModel.from_policy(policy)
    torch.nn.init.normal_(critic.head.weight, std=0.5, generator=torch.Generator().manual_seed(0))
    save_checkpoint(critic, tmp_path / "critic.pt")
    argv = ["localize", "--policy", str(tmp_path / "policy.pt"), "--critic", str(tmp_path / "critic.pt"),
            "--data", str(tmp_path), "--problems", "40", "--samples", "8", "--K", "2", "--max-new-tokens", "10",
            "--device", "cpu"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["problems"] == 40 and out["samples"] == 8 and out["K"] == 2
    assert out["localization"], "no first slip was paired with a right answer to its problem"
    for at in out["localization"].values():
        assert at["pairs"] >= 1
        if at["mc"] < 0:
            assert at["fraction"] == pytest.approx(at["critic"] / at["mc"])
    # a critic of another size reads the same sequences: it is measured; one with a shorter block cannot be
    other = ValueModel(replace(policy.cfg, n_layer=1, n_head=2, n_embd=32))
    save_checkpoint(other, tmp_path / "other.pt")
    assert main([*argv[:4], str(tmp_path / "other.pt"), *argv[5:]]) == 0
    capsys.readouterr()
    short = ValueModel(replace(policy.cfg, n_layer=1, n_head=2, n_embd=32, block_size=policy.cfg.block_size - 1))
    save_checkpoint(short, tmp_path / "short.pt")
    assert main([*argv[:4], str(tmp_path / "short.pt"), *argv[5:]]) == 2
    assert "cannot read the sequences of --policy" in capsys.readouterr().err
