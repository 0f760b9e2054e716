"""Checkpoints: written atomically, loaded with ``weights_only=True``, checked finite and against the task.

A checkpoint is a plain dict {"format", "model_config", "state_dict", "meta"}, so
loading it never unpickles arbitrary objects.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from .config import ModelConfig, from_dict
from .model import GPT
from .tokenizer import VOCAB_SIZE

FORMAT = "minigrpo-checkpoint-v1"


def first_nonfinite(tensors: dict) -> str | None:
    """The name of the first floating-point tensor of ``tensors`` holding a nan or an inf, else None."""
    return next((name for name, t in tensors.items()
                 if torch.is_tensor(t) and t.is_floating_point() and not torch.isfinite(t).all()), None)


def atomic_save(payload: dict, path: str | Path) -> None:
    """torch.save to a temporary file in the same folder, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; a checkpoint is meant to be shared
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err.__context__, KeyboardInterrupt):  # Ctrl-C mid-write: torch's writer fails on its way out
            raise KeyboardInterrupt from None  # and would hide that the user stopped the run
        raise


def atomic_load(path: str | Path, format: str) -> dict:
    """The dict a file of ``format`` holds, loaded with weights_only=True; ValueError naming what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"checkpoint {path} is corrupt or not a torch file: {' '.join(str(err).split())}") from err
    if not isinstance(payload, dict) or payload.get("format") != format:
        raise ValueError(f"checkpoint {path} is not a {format} file")
    return payload


def save_checkpoint(model: torch.nn.Module, path: str | Path, meta: dict | None = None) -> None:
    """Write atomically; refuse weights with a nan or an inf (a diverged run must not pass for a result).

    ``model`` is a GPT or anything built from a ModelConfig held in ``model.cfg`` (PPO's critic).
    """
    state_dict = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if (bad := first_nonfinite(state_dict)) is not None:
        raise ValueError(f"refusing to save {path}: {bad} holds a nan or an inf")
    atomic_save({"format": FORMAT, "model_class": type(model).__name__, "model_config": asdict(model.cfg),
                 "state_dict": state_dict, "meta": meta or {}}, path)


def load_checkpoint(path: str | Path, expected: ModelConfig | None = None, device="cpu", build=GPT):
    """Rebuild the model a checkpoint holds; returns (model, meta).

    ``build`` is the class to rebuild (GPT, or PPO's ValueModel), called with the ModelConfig.
    Raises a one-line ValueError naming the problem if the file is missing, corrupt, not a
    minigrpo checkpoint, holds another kind of model, has no valid model config, was made with a
    model config other than ``expected``, holds weights of other shapes than its config's, or a nan or an inf.
    """
    payload = atomic_load(path, FORMAT)
    held = payload.get("model_class", "GPT")
    if held != build.__name__:
        raise ValueError(f"checkpoint {path} holds a {held}, not a {build.__name__}")
    if not isinstance(payload.get("model_config"), dict) or not isinstance(payload.get("state_dict"), dict):
        raise ValueError(f"checkpoint {path} has no model_config or no state_dict")
    try:
        cfg = from_dict(ModelConfig, payload["model_config"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"checkpoint {path} has an invalid model config {payload['model_config']}: {err}") from None
    if expected is not None and cfg != expected:
        diff = {k: (v, getattr(expected, k)) for k, v in asdict(cfg).items() if getattr(expected, k) != v}
        raise ValueError(f"checkpoint {path} was made with another model config (checkpoint, expected): {diff}")
    model, weights = build(cfg), payload["state_dict"]
    wanted = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) if torch.is_tensor(v) else type(v).__name__ for k, v in weights.items()}
    if wanted != found:
        name = next(k for k in sorted(wanted.keys() | found.keys()) if wanted.get(k) != found.get(k))
        raise ValueError(f"checkpoint {path} does not fit its own model config {cfg}: {name} is "
                         f"{found.get(name, 'missing')} in the file, {wanted.get(name, 'absent')} for the config")
    if (bad := first_nonfinite(weights)) is not None:
        raise ValueError(f"checkpoint {path} holds a nan or an inf in {bad}")
    model.load_state_dict(weights)
    return model.to(device), payload.get("meta", {})


def check_fits(cfg: ModelConfig, problems: list, max_new_tokens: int | None, source) -> None:
    """A model of ``cfg`` (from ``source``) must read the tokenizer's ids and hold the longest prompt plus
    ``max_new_tokens``: or, where None, plus the longest worked solution and <eos> (warm start, greedy eval)."""
    if cfg.vocab_size != VOCAB_SIZE:
        raise ValueError(f"{source}: vocab_size is {cfg.vocab_size}, the tokenizer has {VOCAB_SIZE} tokens")
    # one token per character (tokenizer.py), plus <bos>; the last new token is never fed back in
    need = max(len(p.prompt) + 1 + (max_new_tokens or len(p.solution) + 1) - 1 for p in problems)
    if cfg.block_size < need:
        what = f"{max_new_tokens} new tokens" if max_new_tokens else "its worked solution"
        raise ValueError(f"{source}: block_size {cfg.block_size} is too small: the longest prompt plus {what} "
                         f"needs {need}")
