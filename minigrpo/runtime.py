"""Where a run happens: device choice, seeding, and the run folder it writes, transactionally."""

from __future__ import annotations

import json
import os
import random
import shutil
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


CHECKPOINT = "checkpoint.pt"  # the training state (resume.py), in <out>.partial only: a finished run has none


class RunFolder:
    """A run's folder: config.json, metrics.jsonl (one JSON object per logged step), the checkpoints it saves.

    Transactional: a run writes into the sibling ``<out>.partial`` and ``finish()`` moves it to ``<out>``, so a
    run that fails, diverges or is stopped (Ctrl-C, SIGKILL) leaves ``<out>`` as it was. An ``<out>`` that holds
    a run is refused unless ``overwrite``, and is then replaced only when the new run finishes. ``resume``
    continues ``<out>.partial`` from its checkpoint (resume.py) with the configs saved there, but for ``steps``.
    """

    def __init__(self, path: str | Path, configs: dict, overwrite: bool = False, resume: bool = False):
        self.final = Path(os.path.abspath(path))  # abspath: "." and "runs/x/" have a name to add ".partial" to
        self.path = self.final.with_name(self.final.name + ".partial")
        self.resuming = resume
        check_out(self.final, overwrite)
        self.configs = json.loads(json.dumps({name: asdict(cfg) for name, cfg in configs.items()}))
        if resume:
            check_resumable(self.path, self.configs)
            for tmp in self.path.glob("*.tmp"):  # what a SIGKILL left half-written
                tmp.unlink()
        elif (self.path / CHECKPOINT).exists() and not overwrite:
            raise ValueError(f"{self.path} holds a stopped run: --resume continues it, --overwrite starts afresh")
        elif self.path.exists():  # a stopped run without a checkpoint has nothing to resume
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path / "config.json", json.dumps(self.configs, indent=2) + "\n")
        self.metrics_path = self.path / "metrics.jsonl"
        self.records: list[dict] = []
        if not resume:
            self.restore([])

    def log(self, record: dict) -> None:
        self.records.append(record)
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def restore(self, records: list[dict]) -> None:
        """metrics.jsonl back to ``records``, those of the checkpoint a run resumes from."""
        self.records = list(records)
        write_atomically(self.metrics_path, "".join(json.dumps(r) + "\n" for r in records))

    def finish(self) -> None:
        """Move the finished run into place; a run that ``<out>`` held is removed only once the new one is there."""
        (self.path / CHECKPOINT).unlink(missing_ok=True)  # resuming is for stopped runs
        if self.final.exists():
            old = self.final.with_name(self.final.name + ".replaced")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.final, old)  # a crash before the next line leaves the old run whole, in <out>.replaced
            os.replace(self.path, self.final)
            shutil.rmtree(old)
        else:
            os.replace(self.path, self.final)
        self.path = self.final


def check_out(out: Path, overwrite: bool) -> None:
    """``out`` may be new, an empty folder, or (with ``overwrite``) a run folder; never a file or another folder."""
    parent = next(p for p in (out, *out.parents) if p.exists() or p.is_symlink())
    if not parent.is_dir():
        raise ValueError(f"--out {out}: {parent} is a file, not a folder")
    if parent == out and any(out.iterdir()):
        if not (out / "config.json").is_file():
            raise ValueError(f"--out {out} is a folder that holds no run (no config.json): choose another --out")
        if not overwrite:
            raise ValueError(f"--out {out} holds a run already: --overwrite replaces it once this run finishes")


def check_resumable(partial: Path, config_json: dict) -> None:
    """``partial`` holds a checkpoint, made with ``config_json`` but perhaps another number of steps."""
    if not (partial / CHECKPOINT).is_file():
        raise ValueError(f"--resume: {partial} holds no checkpoint (none saved yet, or the run finished): "
                         "start again without --resume")
    saved = json.loads((partial / "config.json").read_text())
    changed = [f"{section}.{k}" for section, values in config_json.items() for k, v in values.items()
               if k != "steps" and saved.get(section, {}).get(k, "<absent>") != v]
    if changed:
        raise ValueError(f"--resume: {', '.join(changed)} differ from {partial / 'config.json'}: resume with the "
                         "flags the run started with (only --steps may change)")


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_metrics(path: str | Path) -> list[dict]:
    if not Path(path).is_file():
        raise ValueError(f"{Path(path).parent} holds no finished run: {path} does not exist")
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
