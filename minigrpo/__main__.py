"""Command line: python -m minigrpo {data,warmup,grpo,ppo,eval,bench,figures} [options].

Every config field is a flag (``group_size`` -> ``--group-size``); ``--help`` lists them.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields, replace
from pathlib import Path

from .bench import QUICK, BenchConfig
from .config import GRPOConfig, ModelConfig, PPOConfig, TaskConfig, WarmupConfig
from .task import DATA_DIR

DEFAULT_INIT = DATA_DIR / "warmstart.pt"
FIGURES_DIR = Path(__file__).resolve().parent.parent / "figures"


def _add_config_flags(parser: argparse.ArgumentParser, cls) -> None:
    group = parser.add_argument_group(cls.__name__)
    for f in fields(cls):
        kind = {"int": int, "float": float, "str": str}[f.type if isinstance(f.type, str) else f.type.__name__]
        group.add_argument(
            "--" + f.name.replace("_", "-"), dest=f.name, type=kind, default=f.default,
            help=f"(default: {f.default})",
        )


def _config(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


def cmd_data(args) -> None:
    from .task import make_splits, write_jsonl

    cfg = _config(TaskConfig, args)
    train, test = make_splits(cfg)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(train, out / "train.jsonl")
    write_jsonl(test, out / "test.jsonl")
    print(json.dumps({"train": len(train), "test": len(test), "dir": str(out)}))


def cmd_warmup(args) -> None:
    from .checkpoint import save_checkpoint
    from .evaluate import greedy_accuracy
    from .runtime import RunFolder, resolve_device
    from .task import load_split
    from .warmup import warm_start

    model_cfg, cfg = _config(ModelConfig, args), _config(WarmupConfig, args)
    device = resolve_device(cfg.device)
    train, test = load_split("train", args.data), load_split("test", args.data)
    run = RunFolder(args.out, {"model": model_cfg, "warmup": cfg})
    model = warm_start(model_cfg, cfg, train, test, device, log=run.log)
    result = greedy_accuracy(model, test)
    save_checkpoint(model, run.path / "policy.pt", meta={"kind": "warm start", "test_accuracy": result["accuracy"]})
    print(json.dumps({**result, "checkpoint": str(run.path / "policy.pt")}))


def _train_rl(args, cfg_cls, kind: str) -> None:
    """GRPO or PPO from a checkpoint: the same run folder, metrics and final JSON line."""
    from .checkpoint import load_checkpoint, save_checkpoint
    from .runtime import RunFolder, resolve_device, seed_everything
    from .task import load_split

    cfg = _config(cfg_cls, args)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    policy, _ = load_checkpoint(args.init, device=device)
    train, test = load_split("train", args.data), load_split("test", args.data)
    run = RunFolder(args.out, {"model": policy.cfg, kind: cfg})
    history = []

    def log(record):
        history.append(record)
        run.log(record)

    if kind == "grpo":
        from .grpo.trainer import train_grpo

        train_grpo(policy, cfg, train, test, log=log)
    else:
        from .ppo.trainer import train_ppo

        critic = train_ppo(policy, cfg, train, test, log=log)
        save_checkpoint(critic, run.path / "critic.pt", meta={"kind": "ppo critic", "init": str(args.init)})
    save_checkpoint(policy, run.path / "policy.pt", meta={"kind": kind, "init": str(args.init)})
    accuracies = [r["test_accuracy"] for r in history if "test_accuracy" in r]
    seconds = sum(r.get("wall_s", 0.0) for r in history)
    print(json.dumps({
        "accuracy_before": accuracies[0], "accuracy_after": accuracies[-1],
        "train_seconds": round(seconds, 1), "checkpoint": str(run.path / "policy.pt"),
    }))


def cmd_grpo(args) -> None:
    _train_rl(args, GRPOConfig, "grpo")


def cmd_ppo(args) -> None:
    _train_rl(args, PPOConfig, "ppo")


def cmd_eval(args) -> None:
    from .checkpoint import load_checkpoint
    from .evaluate import greedy_accuracy
    from .runtime import resolve_device
    from .task import load_split

    model, _ = load_checkpoint(args.checkpoint, device=resolve_device(args.device))
    result = greedy_accuracy(model, load_split(args.split, args.data))
    print(json.dumps({**result, "split": args.split, "checkpoint": str(args.checkpoint)}))


def cmd_figures(args) -> None:
    from .plots import plot_accuracy_vs_time, plot_grpo_vs_ppo, plot_learning_curves
    from .runtime import read_metrics

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    grpo = read_metrics(Path(args.run) / "metrics.jsonl")
    written = [plot_learning_curves(grpo, out / "grpo_learning_curves.png")]
    ppo_run = Path(args.ppo_run)
    if (ppo_run / "critic.pt").is_file():
        runs = {"GRPO": grpo, "PPO": read_metrics(ppo_run / "metrics.jsonl")}
        written.append(plot_grpo_vs_ppo(runs, out / "grpo_vs_ppo.png"))
        written.append(plot_accuracy_vs_time(runs, out / "accuracy_vs_time.png"))
        written.append(_token_credit_figure(ppo_run, out / "token_credit.png", args.seed))
    print(json.dumps({"figures": [str(p) for p in written]}))


def _token_credit_figure(ppo_run: Path, path: Path, seed: int) -> Path:
    """Strips for the test problem where the critic best tells a slip from a right step.

    The PPO policy samples, so the critic judges the completions it was trained on. Among
    the first 48 test problems (notebook 8's sample) whose group has right and wrong answers,
    the figure shows the one where the critic's value after the first wrong step of a wrong
    answer falls furthest below its value after the same step of the right answers, outlines
    the wrong steps, and gives the mean of that gap over all such slips: how typical it is.
    """
    import math

    import torch

    from .analysis import first_slips, token_credit
    from .checkpoint import load_checkpoint
    from .plots import plot_token_credit
    from .ppo import Critic
    from .task import load_split

    policy, _ = load_checkpoint(ppo_run / "policy.pt")
    critic, _ = load_checkpoint(ppo_run / "critic.pt", build=Critic)
    problems, G = load_split("test")[:48], 8
    credit = token_credit(policy, critic, problems, G, generator=torch.Generator().manual_seed(seed))
    slips = [s for s in first_slips(credit, problems) if not math.isnan(s.gap_to_right)]  # NaN: no right answer
    if not slips:
        raise ValueError(f"no test problem among the first {len(problems)} has right answers and a wrong one "
                         "with a failed step")
    slip = min(slips, key=lambda s: s.gap_to_right)
    b = slip.row // G
    mean_gap = sum(s.gap_to_right for s in slips) / len(slips)
    title = (f"Who gets the credit? {G} samples of {problems[b].prompt.rstrip(':')} from the PPO policy. Outlined: "
             f"first wrong steps.\nAfter the slip in row {slip.row - b * G + 1}, V is {slip.gap_to_right:+.2f} from "
             f"V after the same step of the right answers: the clearest of {len(slips)} slips in {len(problems)} "
             f"test problems, whose mean is {mean_gap:+.2f}")
    return plot_token_credit(credit, list(range(b * G, (b + 1) * G)), path, title=title, slips=slips)


def cmd_bench(args) -> None:
    from .bench import format_table, run_bench, write_json

    given = {f.name: getattr(args, f.name) for f in fields(BenchConfig) if getattr(args, f.name) is not None}
    cfg = replace(QUICK if args.quick else BenchConfig(), **given)
    summary = run_bench(args.init, args.data, cfg)
    print(format_table(summary))
    path = write_json(summary, args.out)
    print(json.dumps({"bench": str(path), "kv_cache_speedup": [g["speedup"] for g in summary["generation"]],
                      "ppo_over_grpo": summary["grpo_vs_ppo"]["ppo_over_grpo"],
                      "fraction_of_matmul": summary["flops"]["fraction_of_matmul"]}))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m minigrpo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="write the train/test splits (byte for byte from the seed)")
    _add_config_flags(p, TaskConfig)
    p.add_argument("--out", default=str(DATA_DIR))
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("warmup", help="supervised warm start of a fresh GPT")
    _add_config_flags(p, ModelConfig)
    _add_config_flags(p, WarmupConfig)
    p.add_argument("--data", default=str(DATA_DIR))
    p.add_argument("--out", default="runs/warmup")
    p.set_defaults(func=cmd_warmup)

    p = sub.add_parser("grpo", help="improve a checkpoint with GRPO")
    _add_config_flags(p, GRPOConfig)
    p.add_argument("--init", default=str(DEFAULT_INIT), help="checkpoint to start from")
    p.add_argument("--data", default=str(DATA_DIR))
    p.add_argument("--out", default="runs/grpo")
    p.set_defaults(func=cmd_grpo)

    p = sub.add_parser("ppo", help="the baseline: improve a checkpoint with PPO and a learned critic")
    _add_config_flags(p, PPOConfig)
    p.add_argument("--init", default=str(DEFAULT_INIT), help="checkpoint to start from")
    p.add_argument("--data", default=str(DATA_DIR))
    p.add_argument("--out", default="runs/ppo")
    p.set_defaults(func=cmd_ppo)

    p = sub.add_parser("eval", help="greedy accuracy of a checkpoint; last line is JSON")
    p.add_argument("--checkpoint", default=str(DEFAULT_INIT))
    p.add_argument("--split", default="test", choices=["train", "test"])
    p.add_argument("--device", default="auto")
    p.add_argument("--data", default=str(DATA_DIR))
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="what a step costs (generation, phases, GRPO vs PPO, FLOP/s); bench.json in --out")
    group = p.add_argument_group("BenchConfig (defaults in minigrpo/bench.py; --quick changes them)")
    for f in fields(BenchConfig):
        group.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=type(f.default), default=None,
                           help=f"(default: {f.default}; --quick: {getattr(QUICK, f.name)})")
    p.add_argument("--quick", action="store_true", help="a smoke test in seconds: tiny batch, one repeat")
    p.add_argument("--init", default=str(DEFAULT_INIT))
    p.add_argument("--data", default=str(DATA_DIR))
    p.add_argument("--out", default="runs/bench")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("figures", help="plot learning curves (and the PPO comparison) into figures/")
    p.add_argument("--run", default="runs/grpo")
    p.add_argument("--ppo-run", default="runs/ppo", help="adds the GRPO-vs-PPO and token-credit figures if present")
    p.add_argument("--seed", type=int, default=0, help="seed for the completions of the token-credit figure")
    p.add_argument("--out", default=str(FIGURES_DIR))
    p.set_defaults(func=cmd_figures)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
