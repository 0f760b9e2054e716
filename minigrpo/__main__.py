"""Command line: python -m minigrpo COMMAND [options], the commands listed by --help.

Every config field is a flag (``group_size`` -> ``--group-size``) with its help line from ``config.py``. A command
imports what it needs when it runs, so ``--help`` loads neither torch nor the benchmark's platform-specific modules.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields, replace
from pathlib import Path

from .bugzoo.cli import add_command as add_bugzoo_command
from .config import QUICK, BenchConfig, GRPOConfig, ModelConfig, PPOConfig, TaskConfig, WarmupConfig
from .experiments.cli import add_commands as add_experiment_commands
from .learned_rewards.cli import add_command as add_reward_model_command
from .options import add_config_flags, add_out_flags, config_from
from .task import DATA_DIR

DEFAULT_INIT = DATA_DIR / "warmstart.pt"
FIGURES_DIR = Path(__file__).resolve().parent.parent / "figures"


def cmd_data(args) -> None:
    from .task import make_splits, write_jsonl

    train, test = make_splits(config_from(TaskConfig, args))
    out = Path(args.out)
    for name, split in (("train", train), ("test", test)):
        write_jsonl(split, out / f"{name}.jsonl")
    print(json.dumps({"train": len(train), "test": len(test), "dir": str(out)}))


def cmd_warmup(args) -> None:
    from .checkpoint import check_fits, save_checkpoint
    from .evaluate import greedy_accuracy
    from .runtime import RunFolder, resolve_device
    from .task import load_split
    from .warmup import warm_start

    model_cfg, cfg = config_from(ModelConfig, args), config_from(WarmupConfig, args)
    device = resolve_device(cfg.device)
    train, test = load_split("train", args.data), load_split("test", args.data)
    check_fits(model_cfg, train + test, None, "the model flags")
    run = RunFolder(args.out, {"model": model_cfg, "warmup": cfg}, args.overwrite)
    model = warm_start(model_cfg, cfg, train, test, device, log=run.log)
    result = greedy_accuracy(model, test)
    save_checkpoint(model, run.path / "policy.pt", meta={"kind": "warm start", "test_accuracy": result["accuracy"]})
    run.finish()
    print(json.dumps({**result, "checkpoint": str(run.path / "policy.pt")}))


def cmd_train(args) -> None:
    """GRPO or PPO from a checkpoint: the same run folder, metrics and final JSON line."""
    from .checkpoint import check_fits, load_checkpoint, save_checkpoint
    from .distributed import World
    from .resume import Checkpoints
    from .runtime import RunFolder, resolve_device, seed_everything
    from .task import load_split

    kind = args.command
    cfg = config_from(GRPOConfig if kind == "grpo" else PPOConfig, args)
    device = resolve_device(cfg.device)
    world = World.from_env(device)  # under torchrun: join the other processes (distributed/world.py)
    seed_everything(cfg.seed)
    policy, _ = load_checkpoint(args.init, device=device)
    reward_model = None
    if kind == "grpo" and cfg.reward_model:  # a learned reward model instead of the verifier
        from .learned_rewards.cli import load_reward_model

        reward_model = load_reward_model(cfg, device)
    train, test = load_split("train", args.data, at_least=cfg.prompts_per_step), load_split("test", args.data)
    check_fits(policy.cfg, train + test, cfg.max_new_tokens, f"checkpoint {args.init}")
    if args.save_every < 1:
        raise ValueError(f"--save-every must be at least 1, got {args.save_every}")
    run = RunFolder(args.out, {"model": policy.cfg, kind: cfg}, args.overwrite, args.resume) if world.main else None
    with Checkpoints(run, args.save_every) as checkpoints:  # on any error, says where the last checkpoint is
        if kind == "grpo":
            from .grpo.trainer import train_grpo

            train_grpo(policy, cfg, train, test, log=run and run.log, checkpoints=checkpoints,
                       reward_model=reward_model, world=world)
        else:
            from .ppo.trainer import train_ppo

            critic = train_ppo(policy, cfg, train, test, log=run and run.log, checkpoints=checkpoints, world=world)
        if run is None:  # distributed: a process other than 0 has trained its share; 0 saves
            world.finish()
            return
        if kind == "ppo":
            save_checkpoint(critic, run.path / "critic.pt", meta={"kind": "ppo critic", "init": str(args.init)})
        save_checkpoint(policy, run.path / "policy.pt", meta={"kind": kind, "init": str(args.init)})
    run.finish()
    world.finish()
    accuracies = [r["test_accuracy"] for r in run.records if "test_accuracy" in r]
    print(json.dumps({"accuracy_before": accuracies[0], "accuracy_after": accuracies[-1],
                      "train_seconds": round(sum(r.get("wall_s", 0.0) for r in run.records), 1),
                      "checkpoint": str(run.path / "policy.pt")}))


def cmd_eval(args) -> None:
    import torch

    from .checkpoint import check_fits, load_checkpoint
    from .evaluate import greedy_accuracy, process_verified_accuracy, sampled_pass_at_k
    from .runtime import resolve_device
    from .task import load_split

    if args.samples and (args.samples < max(args.k) or min(args.k) < 1):
        raise ValueError(f"--k must be in [1, --samples = {args.samples}], got {args.k}")
    model, _ = load_checkpoint(args.checkpoint, device=resolve_device(args.device))
    problems = load_split(args.split, args.data)
    check_fits(model.cfg, problems, None, f"checkpoint {args.checkpoint}")
    result = {**greedy_accuracy(model, problems),
              "process_verified_accuracy": process_verified_accuracy(model, problems)["accuracy"]}
    if args.samples:  # pass@k from --samples completions per problem
        check_fits(model.cfg, problems, args.max_new_tokens, f"checkpoint {args.checkpoint}")
        sampled = sampled_pass_at_k(model, problems, args.k, args.samples, args.max_new_tokens,
                                    generator=torch.Generator(next(model.parameters()).device).manual_seed(args.seed))
        result.update({key: value for key, value in sampled.items() if key.startswith("pass@")})
    print(json.dumps({**result, "split": args.split, "checkpoint": str(args.checkpoint)}))


def cmd_figures(args) -> None:
    from .viz.figures import draw_figures

    written = draw_figures(Path(args.run), Path(args.ppo_run), Path(args.out), args.seed)
    print(json.dumps({"figures": [str(p) for p in written]}))


def cmd_bench(args) -> None:
    from .bench import format_table, run_bench, write_json

    given = {f.name: getattr(args, f.name) for f in fields(BenchConfig) if getattr(args, f.name) is not None}
    cfg = replace(QUICK if args.quick else BenchConfig(), **given)
    summary = run_bench(args.init, args.data, cfg)
    print(format_table(summary))
    path = write_json(summary, args.out)
    print(json.dumps({"bench": str(path), "kv_cache_speedup": [g["speedup"] for g in summary["generation"]],
                      **{k: summary["grpo_vs_ppo"][k] for k in ("ppo_over_grpo", "vineppo_over_grpo")},
                      "fraction_of_matmul": summary["flops"]["fraction_of_matmul"]}))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m minigrpo", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    data_flag = ("--data", {"default": str(DATA_DIR), "help": "folder holding train.jsonl and test.jsonl"})
    init_flag = ("--init", {"default": str(DEFAULT_INIT), "help": "checkpoint to start from"})

    p = sub.add_parser("data", help="write the train/test splits (byte for byte from the seed)")
    add_config_flags(p, TaskConfig)
    p.add_argument("--out", default=str(DATA_DIR), help="folder to write the splits into")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("warmup", help="supervised warm start of a fresh GPT")
    add_config_flags(p, ModelConfig)
    add_config_flags(p, WarmupConfig)
    p.add_argument(data_flag[0], **data_flag[1])
    add_out_flags(p, "runs/warmup", resumable=False)
    p.set_defaults(func=cmd_warmup)

    for name, cls, what in (("grpo", GRPOConfig, "improve a checkpoint with GRPO"),
                            ("ppo", PPOConfig, "the baseline: improve a checkpoint with PPO and a learned critic")):
        p = sub.add_parser(name, help=what)
        add_config_flags(p, cls)
        p.add_argument(init_flag[0], **init_flag[1])
        p.add_argument(data_flag[0], **data_flag[1])
        add_out_flags(p, f"runs/{name}", resumable=True)
        p.set_defaults(func=cmd_train)

    add_reward_model_command(sub, [init_flag, data_flag])

    p = sub.add_parser("eval", help="greedy and process-verified accuracy of a checkpoint (and pass@k with --samples); "
                       "last line is JSON")
    p.add_argument("--checkpoint", default=str(DEFAULT_INIT), help="the checkpoint to evaluate")
    p.add_argument("--split", default="test", choices=["train", "test"], help="which split to evaluate on")
    p.add_argument("--device", default="auto", help="'cpu', 'cuda', or 'auto' (cuda when a GPU is visible)")
    p.add_argument("--samples", type=int, default=0, metavar="N", help="also sample N completions per problem "
                   "(temperature 1) for pass@k; 0 skips it (default: 0)")
    p.add_argument("--k", type=int, nargs="+", default=[1, 4, 8], help="the k of pass@k (default: 1 4 8)")
    p.add_argument("--max-new-tokens", type=int, default=32, help="the sampled completions' budget (default: 32)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled completions (default: 0)")
    p.add_argument(data_flag[0], **data_flag[1])
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="what a step costs (generation, phases, GRPO vs PPO, FLOP/s); bench.json in --out")
    add_config_flags(p, BenchConfig)
    p.set_defaults(**{f.name: None for f in fields(BenchConfig)})  # a flag not given keeps BenchConfig's or QUICK's
    p.add_argument("--quick", action="store_true", help=f"a smoke test in seconds, no number meaningful: {QUICK}")
    p.add_argument(init_flag[0], **init_flag[1])
    p.add_argument(data_flag[0], **data_flag[1])
    p.add_argument("--out", default="runs/bench", help="folder to write bench.json into")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("figures", help="plot learning curves (and the PPO comparison) into figures/")
    p.add_argument("--run", default="runs/grpo", help="the GRPO run folder")
    p.add_argument("--ppo-run", default="runs/ppo", help="adds the GRPO-vs-PPO and token-credit figures if present")
    p.add_argument("--seed", type=int, default=0, help="seed for the completions of the token-credit figure")
    p.add_argument("--out", default=str(FIGURES_DIR), help="folder to write the PNGs into")
    p.set_defaults(func=cmd_figures)
    add_experiment_commands(sub)
    add_bugzoo_command(sub)
    return parser


def main(argv=None) -> int:
    """A mistake is one line on stderr and an exit code: 2 bad input (flags, data, checkpoints), 1 a file system
    error or a diverged run, 130 Ctrl-C. A run folder adds a note: where its last checkpoint is (resume.py)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0  # a command may return its own exit code (bugzoo: 1 if a bug survives)
    except BrokenPipeError:  # the reader stopped reading (`| head`): nothing is wrong, and nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, OSError, FloatingPointError, KeyboardInterrupt) as err:
        message = "; ".join([str(err) or "interrupted", *getattr(err, "__notes__", [])])
        print("error: " + " ".join(message.split()), file=sys.stderr)
        return 2 if isinstance(err, ValueError) else 130 if isinstance(err, KeyboardInterrupt) else 1


if __name__ == "__main__":
    sys.exit(main())
