"""The command line: JSON results, run folders, and clear errors for bad input."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from minigrpo.__main__ import main
from minigrpo.checkpoint import save_checkpoint
from minigrpo.config import ModelConfig, TaskConfig
from minigrpo.model import GPT
from minigrpo.task import make_splits, write_jsonl


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
    assert {p.name for p in out.iterdir()} == {"config.json", "metrics.jsonl", "policy.pt"}
    assert json.loads((out / "config.json").read_text())["grpo"]["group_size"] == 2
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 1, 2]
    assert "accuracy_after" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])


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
    assert {p.name for p in out.iterdir()} == {"config.json", "metrics.jsonl", "policy.pt", "critic.pt"}
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"value_loss", "explained_variance", "test_accuracy"} <= set(last)
    # a critic checkpoint is not a policy: loading it as one names the mix-up
    assert main(["eval", "--checkpoint", str(out / "critic.pt"), "--data", str(tmp_path)]) == 2
    assert "holds a Critic" in capsys.readouterr().err


def test_quick_bench_prints_every_part_and_writes_json(tmp_path, capsys):
    small_data(tmp_path)
    args = ["bench", "--quick", "--init", str(tmp_path / "init.pt"), "--data", str(tmp_path),
            "--out", str(tmp_path / "bench")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    for heading in ("(a) generation", "(b) one GRPO step", "(c) GRPO vs PPO", "(d) the training forward"):
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
    assert flops["sequences"] == 4 and flops["training_flops"] > 0 and flops["matmul_flop_per_s"] > 0


def test_bench_flags_override_quick(tmp_path, capsys):
    small_data(tmp_path)
    args = ["bench", "--quick", "--group-size", "1", "--init", str(tmp_path / "init.pt"), "--data", str(tmp_path)]
    assert main(args) == 2
    assert "group_size" in capsys.readouterr().err


def test_figures_with_a_ppo_run_draw_the_comparison_and_the_token_strips(tmp_path, capsys):
    # Run folders as grpo and ppo write them, holding the shipped PPO checkpoints (the strips need a
    # policy with right and wrong answers) and a short made-up metrics history.
    data = Path(__file__).resolve().parent.parent / "data"
    grpo, ppo = tmp_path / "grpo", tmp_path / "ppo"
    for run in (grpo, ppo):
        run.mkdir()
        records = [{"step": 0, "test_accuracy": 0.4}] + [
            {"step": s, "reward_mean": 0.3 + 0.1 * s, "kl": 0.01, "zero_spread_frac": 0.5, "wall_s": 0.5,
             **({"test_accuracy": 0.5} if s == 2 else {})} for s in (1, 2)]
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
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
    from minigrpo.__main__ import build_parser, config_from
    from minigrpo.config import GRPOConfig, PPOConfig

    args = build_parser().parse_args(["grpo", "--reward-weights", "correct=1, format=0.5,length=2e-1",
                                      "--aggregation", "dapo", "--clip-eps-high", "0.28", "--ref-reset-every", "50"])
    cfg = config_from(GRPOConfig, args)
    assert cfg.reward_weights == {"correct": 1.0, "format": 0.5, "length": 0.2}
    assert (cfg.aggregation, cfg.clip_eps_high, cfg.ref_reset_every) == ("dapo", 0.28, 50)
    flags = ([], ["--no-whiten-advantages"])
    ppo = [config_from(PPOConfig, build_parser().parse_args(["ppo", *flag])) for flag in flags]
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
            "from minigrpo.__main__ import main\n"
            "for cmd in (['--help'], ['grpo', '--help'], ['bench', '--help']):\n"
            "    try:\n"
            "        main(cmd)\n"
            "    except SystemExit as e:\n"
            "        assert e.code == 0, cmd\n"
            "assert 'torch' not in sys.modules, 'torch was imported for --help'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warmup" in result.stdout and "--ref-reset-every" in result.stdout and "--matmul-size" in result.stdout
