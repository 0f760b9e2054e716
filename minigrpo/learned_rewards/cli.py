"""``python -m minigrpo reward-model``, and ``grpo --reward-model``'s loading: registered from here, so the
command line's file stays one sitting long."""

from __future__ import annotations

import json

from ..config import GRPOConfig, RewardModelConfig
from ..options import add_config_flags, add_out_flags, config_from


def add_command(sub, shared_flags: list[tuple[str, dict]]) -> None:
    """Add the ``reward-model`` subcommand; ``shared_flags`` are the command line's --init and --data."""
    p = sub.add_parser("reward-model", help="train an outcome or process reward model on the warm start's completions")
    add_config_flags(p, RewardModelConfig)
    for flag, options in shared_flags:
        p.add_argument(flag, **options)
    add_out_flags(p, "runs/reward_model", resumable=False)
    p.set_defaults(func=cmd_reward_model)


def cmd_reward_model(args) -> None:
    """Label the warm start's completions, train a reward model on them, report it on held-out completions."""
    from ..checkpoint import check_fits, load_checkpoint, save_checkpoint
    from ..runtime import RunFolder, resolve_device, seed_everything
    from ..task import load_split
    from .train import train_reward_model

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


def load_reward_model(cfg: GRPOConfig, device):
    """The frozen reward model of ``--reward-model``, refused in one line unless it is of the supervision's kind."""
    from ..checkpoint import load_checkpoint
    from ..reward_model import RewardModel

    model, meta = load_checkpoint(cfg.reward_model, device=device, build=RewardModel)
    if meta.get("kind") != cfg.supervision:
        raise ValueError(f"--reward-model {cfg.reward_model} is a {meta.get('kind')} reward model; "
                         f"--supervision {cfg.supervision} needs one of kind {cfg.supervision!r}")
    return model.eval().requires_grad_(False)
