"""Where a run happens: device choice, seeding, and the run folder it writes."""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda if available else cpu; 'cuda' without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but torch.cuda.is_available() is False")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {name!r}")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator for sampling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


class RunFolder:
    """A run's folder: config.json, metrics.jsonl (one JSON object per logged step), checkpoints."""

    def __init__(self, path: str | Path, configs: dict):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        config_json = {name: asdict(cfg) for name, cfg in configs.items()}
        (self.path / "config.json").write_text(json.dumps(config_json, indent=2) + "\n")
        self.metrics_path = self.path / "metrics.jsonl"
        self.metrics_path.write_text("")
        self.records: list[dict] = []

    def log(self, record: dict) -> None:
        self.records.append(record)
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(record) + "\n")


def read_metrics(path: str | Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
