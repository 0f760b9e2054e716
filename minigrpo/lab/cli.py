"""Command line: python -m minigrpo COMMAND [options], the commands listed by --help.

Every config field is a flag (``group_size`` -> ``--group-size``) with its help line from the config. A command
imports what it needs when it runs, so ``--help`` loads neither torch nor the benchmark's platform-specific modules.
Each command is a ``cmd_*`` function; ``build_parser`` lists them with their flags; ``main`` turns a mistake into
one line on stderr and an exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields, replace
from pathlib import Path

from ..config import ModelConfig, TaskConfig, WarmupConfig, default_of
from .config import QUICK, BenchConfig, LabGRPOConfig, LabPPOConfig, RewardModelConfig
from .exercises import EXERCISES, STUDENT_DIR
from .experiments.plans import PLANS, SEEDS, task_of

DATA_DIR = Path(__file__).resolve().parents[2] / "data"  # task.DATA_DIR: --help imports no task.py, which loads torch
DEFAULT_INIT = DATA_DIR / "warmstart.pt"


# Flags from config fields


def parse_weights(text: str) -> dict[str, float]:
    """'correct=1,format=0.5' -> {'correct': 1.0, 'format': 0.5}; the config then checks names and values."""
    weights = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        try:
            weight = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected name=weight pairs joined by commas, got {text!r}") from None
        if not sep or name.strip() in weights:
            raise argparse.ArgumentTypeError(f"expected name=weight pairs, each name once, got {text!r}")
        weights[name.strip()] = weight
    return weights


def add_config_flags(parser: argparse.ArgumentParser, cls) -> None:
    """One flag per field of ``cls``, typed by its annotation, with its help line and default."""
    group = parser.add_argument_group(cls.__name__, cls.__doc__.splitlines()[0])
    for f in fields(cls):
        flag, default = "--" + f.name.replace("_", "-"), default_of(f)
        if f.type == "bool":
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                               help=f"{f.metadata['help']} (default: {default})")
        else:
            kind = {"int": int, "float": float, "str": str, "dict[str, float]": parse_weights}[f.type]
            shown = ",".join(f"{k}={v:g}" for k, v in default.items()) if isinstance(default, dict) else default
            within = f"; in {f.metadata['within']}" if f.metadata.get("within") else ""
            group.add_argument(flag, dest=f.name, type=kind, default=default, metavar=f.name.upper(),
                               help=f"{f.metadata['help']} (default: {shown}{within})")


def config_from(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


def add_out_flags(parser: argparse.ArgumentParser, default: str, resumable: bool) -> None:
    """--out, written transactionally (runs.RunFolder); for training also --resume and --save-every."""
    parser.add_argument("--out", default=default, help="run folder (config.json, run.json, metrics.jsonl, policy.pt), "
                        "written as <out>.partial and moved to <out> only when the run finishes")
    parser.add_argument("--overwrite", action="store_true", help="replace the run in --out once this one finishes; "
                        "discard a stopped one in <out>.partial")
    if resumable:
        parser.add_argument("--resume", action="store_true", help="continue the stopped run in <out>.partial from "
                            "its last checkpoint, up to --steps (other flags as the run started)")
        parser.add_argument("--save-every", type=int, default=25, metavar="N",
                            help="steps between the checkpoints that --resume continues from (default: 25)")


# The commands


def cmd_data(args) -> None:
    from ..task import make_splits, write_jsonl

    train, test = make_splits(config_from(TaskConfig, args))
    out = Path(args.out)
    for name, split in (("train", train), ("test", test)):
        write_jsonl(split, out / f"{name}.jsonl")
    print(json.dumps({"train": len(train), "test": len(test), "dir": str(out)}))


def cmd_warmup(args) -> None:
    from ..checkpoint import check_fits, save_checkpoint
    from ..evaluate import greedy_accuracy
    from ..task import load_split
    from ..warmup import warm_start
    from .runs import RunFolder, resolve_device

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
    from ..checkpoint import check_fits, load_checkpoint, save_checkpoint
    from ..task import load_split
    from .loop import train as train_loop
    from .runs import Checkpoints, RunFolder, resolve_device, seed_everything
    from .scale import World

    kind = args.command
    cfg = config_from(LabGRPOConfig if kind == "grpo" else LabPPOConfig, args)
    device = resolve_device(cfg.device)
    world = World.from_env(device)  # under torchrun: join the other processes (scale/world.py)
    seed_everything(cfg.seed)
    policy, _ = load_checkpoint(args.init, device=device)
    reward_model = None
    if kind == "grpo" and cfg.reward_model:  # a learned reward model instead of the verifier
        from .reward_models.model import load_reward_model

        reward_model = load_reward_model(cfg, device)
    train, test = load_split("train", args.data, at_least=cfg.prompts_per_step), load_split("test", args.data)
    check_fits(policy.cfg, train + test, cfg.max_new_tokens, f"checkpoint {args.init}")
    if args.save_every < 1:
        raise ValueError(f"--save-every must be at least 1, got {args.save_every}")
    run = RunFolder(args.out, {"model": policy.cfg, kind: cfg}, args.overwrite, args.resume) if world.main else None
    with Checkpoints(run, args.save_every) as checkpoints:  # on any error, says where the last checkpoint is
        critic = train_loop(policy, cfg, train, test, log=run and run.log, checkpoints=checkpoints,
                            reward_model=reward_model, world=world)
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


def cmd_reward_model(args) -> None:
    """Label the warm start's completions, train a reward model on them, report it on held-out completions."""
    from ..checkpoint import check_fits, load_checkpoint, save_checkpoint
    from ..task import load_split
    from .reward_models.train import train_reward_model
    from .runs import RunFolder, resolve_device, seed_everything

    cfg = config_from(RewardModelConfig, args)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    policy, _ = load_checkpoint(args.init, device=device)
    train, test = load_split("train", args.data), load_split("test", args.data)
    check_fits(policy.cfg, train + test, cfg.max_new_tokens, f"checkpoint {args.init}")
    run = RunFolder(args.out, {"model": policy.cfg, "reward_model": cfg}, args.overwrite)
    model, report = train_reward_model(policy, cfg, train, test, log=run.log)
    summary = {k: v for k, v in report.items() if k != "calibration"}
    save_checkpoint(model, run.path / "reward_model.pt", meta={"kind": cfg.kind, "label": cfg.label,
                                                                "init": str(args.init), "heldout": summary})
    run.finish()
    print(json.dumps({**summary, "checkpoint": str(run.path / "reward_model.pt")}))


def cmd_localize(args) -> None:
    """The critic's yardstick on held-out problems: per step index, V_MC's drop at a first slip and the critic's."""
    import torch

    from ..checkpoint import check_fits, load_checkpoint
    from ..ppo.critic import ValueModel
    from ..task import load_split
    from .runs import resolve_device
    from .viz.step_values import localization, step_values

    device = resolve_device(args.device)
    policy, _ = load_checkpoint(args.policy, device=device)
    critic, _ = load_checkpoint(args.critic, device=device, build=ValueModel)
    if critic.cfg.vocab_size != policy.cfg.vocab_size or critic.cfg.block_size < policy.cfg.block_size:
        raise ValueError(f"--critic {args.critic} cannot read the sequences of --policy {args.policy} (vocab_size "
                         f"{critic.cfg.vocab_size} vs {policy.cfg.vocab_size}, block_size {critic.cfg.block_size} vs "
                         f"{policy.cfg.block_size})")
    problems = load_split("test", args.data)[:args.problems]
    check_fits(policy.cfg, problems, args.max_new_tokens, f"checkpoint {args.policy}")
    rows = step_values(policy, problems, args.samples, args.K, critic, args.max_new_tokens,
                       generator=torch.Generator(device).manual_seed(args.seed))
    found = localization(rows)
    for j, at in found.items():
        print(f"step {j + 1}: {at['pairs']:3d} first slips, drop of V_MC {at['mc']:+.3f}, of the critic "
              f"{at['critic']:+.3f}: the critic reproduces {at['fraction']:.0%} of it")
    print(json.dumps({"localization": {str(j + 1): at for j, at in found.items()}, "problems": len(problems),
                      "samples": args.samples, "K": args.K, "policy": str(args.policy), "critic": str(args.critic)}))


def cmd_eval(args) -> None:
    import torch

    from ..checkpoint import check_fits, load_checkpoint
    from ..evaluate import greedy_accuracy, process_verified_accuracy, sampled_pass_at_k
    from ..task import load_split
    from .runs import resolve_device

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


def cmd_figures(args) -> None:
    from .viz.figures import draw_figures

    written = draw_figures(Path(args.run), Path(args.ppo_run), Path(args.out or args.run), args.seed)
    print(json.dumps({"figures": [str(p) for p in written]}))


def cmd_sweep(args) -> None:
    from .experiments.results import RESULTS
    from .experiments.sweep import run_plan

    out = Path(args.out) if args.out else RESULTS
    if args.methods and len(args.plans) > 1:
        raise ValueError(f"--methods names methods of one plan; got {len(args.plans)} plans: {' '.join(args.plans)}")
    for plan in args.plans:
        run_plan(plan, args.seeds or SEEDS[plan], Path(args.runs) / plan, out, args.extra.split(), args.methods,
                 Path(args.data) / task_of(plan).folder)
    print(json.dumps({"results": str(out)}))


def cmd_reproduce(args) -> None:
    from .experiments.reproduce import reproduce

    print(json.dumps(reproduce(Path(args.out or ("runs/reproduce-quick" if args.quick else "runs/reproduce")),
                               args.quick)))


def cmd_exercise(args) -> int:
    from .exercises import grade

    return grade(args.name, Path(args.folder))


def cmd_bugzoo(args) -> int:
    from .bugzoo.run import format_catalogue, run_zoo

    if args.seed is not None and not args.mystery:
        raise ValueError("--seed chooses the bug of --mystery")
    if args.list:
        print(format_catalogue(args.bug))
        return 0
    if args.mystery or args.reveal:
        from .bugzoo.mystery import hunt, plant_mystery, reveal

        if args.bug:
            raise ValueError("--mystery chooses its bug itself (--seed N for a reproducible choice); --bug is for the "
                             "zoo, --list and --effects")
        if args.mystery:
            plant_mystery(Path(args.dir), args.seed)
        print(hunt(Path(args.dir)) if args.mystery else reveal(Path(args.dir)))
        return 0
    if args.effects:
        from .bugzoo.effects import format_effects, measure

        results = measure(args.bug, args.steps, args.test_problems, tuple(args.mu), Path(args.out), args.extra.split())
        print("\n" + format_effects(results))
        return 0
    return run_zoo(args.bug, quick=args.quick)


# The parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m minigrpo", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add_init_and_data(p, init=True):
        if init:
            p.add_argument("--init", default=str(DEFAULT_INIT), help="checkpoint to start from")
        p.add_argument("--data", default=str(DATA_DIR), help="folder holding train.jsonl and test.jsonl")

    p = sub.add_parser("data", help="write the train/test splits (byte for byte from the seed)")
    add_config_flags(p, TaskConfig)
    p.add_argument("--out", default=str(DATA_DIR), help="folder to write the splits into")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("warmup", help="supervised warm start of a fresh GPT")
    add_config_flags(p, ModelConfig)
    add_config_flags(p, WarmupConfig)
    add_init_and_data(p, init=False)
    add_out_flags(p, "runs/warmup", resumable=False)
    p.set_defaults(func=cmd_warmup)

    for name, cls, what in (("grpo", LabGRPOConfig, "improve a checkpoint with GRPO"),
                            ("ppo", LabPPOConfig, "the baseline: improve a checkpoint with PPO and a learned critic")):
        p = sub.add_parser(name, help=what)
        add_config_flags(p, cls)
        add_init_and_data(p)
        add_out_flags(p, f"runs/{name}", resumable=True)
        p.set_defaults(func=cmd_train)

    p = sub.add_parser("reward-model", help="train an outcome or process reward model on the warm start's completions")
    add_config_flags(p, RewardModelConfig)
    add_init_and_data(p)
    add_out_flags(p, "runs/reward_model", resumable=False)
    p.set_defaults(func=cmd_reward_model)

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
    add_init_and_data(p, init=False)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("localize", help="does a critic localize a slip? per step index, the drop of V_MC and of the "
                       "critic across a first wrong step, against right answers to the same problems; last line JSON")
    p.add_argument("--policy", default=str(DATA_DIR / "ppo_policy.pt"), help="the policy that samples")
    p.add_argument("--critic", default=str(DATA_DIR / "ppo_critic.pt"), help="its critic")
    p.add_argument("--problems", type=int, default=48, help="held-out problems, the first of the test split")
    p.add_argument("--samples", type=int, default=8, help="completions sampled per problem")
    p.add_argument("--K", type=int, default=16, help="continuations sampled from each state for V_MC")
    p.add_argument("--max-new-tokens", type=int, default=32, help="the completions' budget (default: 32)")
    p.add_argument("--seed", type=int, default=0, help="seed of the completions and continuations")
    p.add_argument("--device", default="auto", help="'cpu', 'cuda', or 'auto'")
    add_init_and_data(p, init=False)
    p.set_defaults(func=cmd_localize)

    p = sub.add_parser("bench", help="what a step costs (generation, phases, GRPO vs PPO, FLOP/s); bench.json in --out")
    add_config_flags(p, BenchConfig)
    p.set_defaults(**{f.name: None for f in fields(BenchConfig)})  # a flag not given keeps BenchConfig's or QUICK's
    p.add_argument("--quick", action="store_true", help=f"a smoke test in seconds, no number meaningful: {QUICK}")
    add_init_and_data(p)
    p.add_argument("--out", default="runs/bench", help="folder to write bench.json into")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("figures", help="plot a run's learning curves (and the PPO comparison) into its run folder")
    p.add_argument("--run", default="runs/grpo", help="the GRPO run folder")
    p.add_argument("--ppo-run", default="runs/ppo", help="adds the GRPO-vs-PPO and token-credit figures if present")
    p.add_argument("--seed", type=int, default=0, help="seed for the completions of the token-credit figure")
    p.add_argument("--out", help="folder to write the PNGs into (default: the --run folder; the book's figures "
                   "are in figures/)")
    p.set_defaults(func=cmd_figures)

    p = sub.add_parser("sweep", help="train plans' methods for several seeds, resumably; records in --out")
    p.add_argument("plans", nargs="+", choices=list(PLANS), metavar="PLAN", help="plans of "
                   f"minigrpo/lab/experiments/plans.py, trained one after the other: {', '.join(PLANS)}")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="RL seeds, each from the same warm start "
                   "(default: each plan's seeds in plans.py, those a reproduction trains)")
    p.add_argument("--methods", nargs="+", default=None, metavar="NAME", help="train only these methods of the plan, "
                   "in this order (default: all); with one plan only")
    p.add_argument("--runs", default="runs/sweeps", help="folder of the run folders (<plan>/<name>/seed<N>)")
    p.add_argument("--data", default="data", help="folder of the splits, warmstart.pt every run starts from, and the "
                   "reward models; a plan of a longer task reads its subfolder (data/steps5, ...) (default: data)")
    p.add_argument("--out", help="the results file each finished run's record goes into (default: data/results.json "
                   "of the package's checkout)")
    p.add_argument("--extra", default="", help="flags added to every run, e.g. '--steps 20' for a smoke test")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("reproduce", help="rebuild everything: splits, warm start, reward models, every run, "
                       "figures, notebooks, generated tables (hours); --quick: the same at toy size (minutes)")
    p.add_argument("--quick", action="store_true", help="toy sizes, everything inside --out, the repository untouched")
    p.add_argument("--out", help="work folder; a stopped run resumes from it (default: runs/reproduce[-quick])")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("exercise", help="grade your own version of one function of the package: the first time, "
                       "copy its template to FOLDER/NAME.py, yours to edit (never overwritten), then run the "
                       "function's tests on that copy; exit 0 if they all pass")
    p.add_argument("name", choices=list(EXERCISES), metavar="NAME", help=f"the exercise: {', '.join(EXERCISES)}")
    p.add_argument("--folder", default=str(STUDENT_DIR), help="where your copies are (default: runs/exercises of "
                   "the repository, ignored by git)")
    p.set_defaults(func=cmd_exercise)

    p = sub.add_parser("bugzoo", help="plant each catalogued real-world bug in a copy of the package and show "
                       "which test catches it; exit 1 if one survives")
    p.add_argument("--bug", nargs="+", metavar="NAME", help="only these bugs (default: the whole catalogue)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true", help="print the catalogue (source, tests, what each bug does)")
    mode.add_argument("--quick", action="store_true", help="only check that every mutation applies and compiles")
    mode.add_argument("--mystery", action="store_true", help="plant one bug, chosen at random and not named, in a "
                      "copy of the repository in --dir, and print how to hunt it; replaces an earlier mystery")
    mode.add_argument("--reveal", action="store_true", help="name the mystery bug of --dir, with its diff")
    mode.add_argument("--effects", action="store_true", help="measure what each bug does to a short training run "
                      "next to the same run without it, at each --mu; resumable, results in --out (at the defaults "
                      "about half an hour on 2 cores)")
    p.add_argument("--seed", type=int, help="--mystery: the seed of the choice, for the same bug again")
    p.add_argument("--dir", default="runs/mystery", help="--mystery, --reveal: the copy's folder (default: "
                   "runs/mystery, ignored by git)")
    p.add_argument("--steps", type=int, default=40, help="--effects: training steps per run (default: 40)")
    p.add_argument("--test-problems", type=int, default=200, help="--effects: held-out problems evaluated before "
                   "and after, the first of the test split (default: 200)")
    p.add_argument("--mu", type=int, nargs="+", default=[1, 2], help="--effects: the inner steps per batch to "
                   "measure at (default: 1 2)")
    p.add_argument("--out", default=str(DATA_DIR / "bugzoo_effects.json"), help="--effects: the results file; a "
                   "result already there is not measured again (default: data/bugzoo_effects.json)")
    p.add_argument("--extra", default="", help="--effects: flags added to every run, e.g. '--prompts-per-step 8'")
    p.set_defaults(func=cmd_bugzoo)
    return parser


def main(argv=None) -> int:
    """A mistake is one line on stderr and an exit code: 2 bad input (flags, data, checkpoints), 1 a file system
    error or a diverged run, 130 Ctrl-C. A run folder adds a note: where its last checkpoint is (runs.py)."""
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
