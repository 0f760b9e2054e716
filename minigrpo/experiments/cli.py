"""``python -m minigrpo sweep`` and ``reproduce``, registered from here so the command line's file stays short."""

from __future__ import annotations

import json
from pathlib import Path

from .results import RESULTS


def add_commands(sub) -> None:
    """Add the ``sweep`` and ``reproduce`` subcommands to the command line's subparsers."""
    p = sub.add_parser("sweep", help="train a plan's methods for several seeds, resumably; records in --out")
    p.add_argument("plan", help="a plan of minigrpo/experiments/sweep.py: credit, reward_models, controls, "
                   "kl_estimators, step_label_noise or variants")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="RL seeds, each from the same warm start")
    p.add_argument("--methods", nargs="+", default=None, metavar="NAME", help="train only these methods of the plan, "
                   "in this order (default: all)")
    p.add_argument("--runs", default="runs/sweeps", help="folder of the run folders (<plan>/<name>/seed<N>)")
    p.add_argument("--data", default="data", help="folder of the splits, warmstart.pt every run starts from, and the "
                   "reward models (default: data)")
    p.add_argument("--out", default=str(RESULTS), help="the results file each finished run's record goes into")
    p.add_argument("--extra", default="", help="flags added to every run, e.g. '--steps 20' for a smoke test")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("reproduce", help="rebuild everything: splits, warm start, reward models, every run, "
                       "figures, notebooks, README tables (hours); --quick: the same at toy size (minutes)")
    p.add_argument("--quick", action="store_true", help="toy sizes, everything inside --out, the repository untouched")
    p.add_argument("--out", help="work folder; a stopped run resumes from it (default: runs/reproduce[-quick])")
    p.set_defaults(func=cmd_reproduce)


def cmd_sweep(args) -> None:
    from .sweep import run_plan

    run_plan(args.plan, args.seeds, Path(args.runs) / args.plan, Path(args.out), args.extra.split(), args.methods,
             args.data)
    print(json.dumps({"results": args.out}))


def cmd_reproduce(args) -> None:
    from .reproduce import reproduce

    print(json.dumps(reproduce(Path(args.out or ("runs/reproduce-quick" if args.quick else "runs/reproduce")),
                               args.quick)))
