"""Checkpoints: written atomically, loaded with ``weights_only=True``, checked against the config.

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

FORMAT = "minigrpo-checkpoint-v1"


def save_checkpoint(model: torch.nn.Module, path: str | Path, meta: dict | None = None) -> None:
    """Write to a temporary file in the same folder, then rename: a crash never leaves half a file.

    ``model`` is a GPT or anything built from a ModelConfig held in ``model.cfg`` (PPO's critic).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "model_class": type(model).__name__,
        "model_config": asdict(model.cfg),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta or {},
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; a checkpoint is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, expected: ModelConfig | None = None, device="cpu", build=GPT):
    """Rebuild the model a checkpoint holds; returns (model, meta).

    ``build`` is the class to rebuild (GPT, or PPO's Critic), called with the ModelConfig.
    Raises ValueError naming the problem if the file is missing, corrupt, not a
    minigrpo checkpoint, holds another kind of model, or was made with a model
    config other than ``expected``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"checkpoint {path} is corrupt or not a torch file: {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path} is not a {FORMAT} file")
    held = payload.get("model_class", "GPT")
    if held != build.__name__:
        raise ValueError(f"checkpoint {path} holds a {held}, not a {build.__name__}")
    cfg = from_dict(ModelConfig, payload["model_config"])
    if expected is not None and cfg != expected:
        diff = {k: (v, getattr(expected, k)) for k, v in asdict(cfg).items() if getattr(expected, k) != v}
        raise ValueError(f"checkpoint {path} was made with another model config (checkpoint, expected): {diff}")
    model = build(cfg)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"checkpoint {path} does not fit its own model config: {err}") from err
    return model.to(device), payload.get("meta", {})
