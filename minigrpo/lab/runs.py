"""A run folder: its config, what else its numbers depend on, its metrics, its checkpoint, and resuming.

A run writes ``config.json`` (the configs it was asked for), ``run.json`` (what it ran on: the provenance),
``metrics.jsonl`` (one JSON object per logged step) and, every ``--save-every`` steps, ``checkpoint.pt``: all
that the next step depends on. The loops call ``resume(state)`` before their first step and
``step_done(record, state)`` after each. A run resumed from step k then draws the same prompts, samples the same
completions and takes the same optimizer steps as one that never stopped: the checkpoint holds the weights of
pi_theta and pi_ref (and V), the optimizers' moments, the sampling generator, the prompt RNG, torch's global RNG
(nothing in a step draws from NumPy's or Python's global one), the step, and the metrics so far.

Bit for bit, that is, on the same provenance: the same seed rounds differently, and so ends elsewhere, on another
kind of CPU (AVX-512 or not), another torch, another number of threads or processes, or other code. ``run.json``
records them; ``--resume`` refuses a config that differs from the run's start, but not a machine: it resumes,
says on stderr what differs, and records the new sitting in ``run.json``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import shutil
import subprocess
import sys
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..checkpoint import atomic_load, atomic_save, first_nonfinite

CHECKPOINT = "checkpoint.pt"  # the training state, in <out>.partial only: a finished run has none
FORMAT = "minigrpo-training-state-v1"
WATCHED = ("loss", "grad_norm", "value_loss")  # a record's numbers that end the run if they are not finite


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


# What a run ran on (run.json)


def cpuinfo(key: str) -> str | None:
    """The value of the first ``key : value`` line of /proc/cpuinfo (Linux), else None."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((value.strip() for name, _, value in (line.partition(":") for line in f)
                         if name.strip() == key), None)
    except OSError:
        return None


def cpu_name() -> str:
    """The CPU's model name: where a run was trained."""
    return cpuinfo("model name") or platform.processor() or platform.machine()


def has_avx512() -> bool:
    """Whether the CPU has AVX-512 (its flags on Linux; elsewhere, whether torch's kernels use it)."""
    flags = cpuinfo("flags")
    return "avx512f" in flags.split() if flags is not None else torch.backends.cpu.get_cpu_capability() == "AVX512"


def code_version() -> str:
    """The git commit of the package's checkout, "+dirty" if a tracked file differs from it; else the version."""
    root = Path(__file__).resolve().parents[2]

    def git(*args) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:  # installed inside another repository
            return __version__
        return git("rev-parse", "HEAD") + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):  # no git, or no checkout
        return __version__


def provenance() -> dict:
    """What this process's numbers depend on beyond the config."""
    return {"cpu": cpu_name(), "avx512": has_avx512(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "processes": int(os.environ.get("WORLD_SIZE", 1)), "code": code_version()}


# The run folder


class RunFolder:
    """A run's folder: config.json, run.json, metrics.jsonl, the checkpoints it saves.

    Transactional: a run writes into the sibling ``<out>.partial`` and ``finish()`` moves it to ``<out>``, so a
    run that fails, diverges or is stopped (Ctrl-C, SIGKILL) leaves ``<out>`` as it was. An ``<out>`` that holds
    a run is refused unless ``overwrite``, and is then replaced only when the new run finishes. ``resume``
    continues ``<out>.partial`` from its checkpoint with the configs saved there, but for ``steps``.
    """

    def __init__(self, path: str | Path, configs: dict, overwrite: bool = False, resume: bool = False):
        self.final = Path(os.path.abspath(path))  # abspath: "." and "runs/x/" have a name to add ".partial" to
        self.path = self.final.with_name(self.final.name + ".partial")
        self.resuming = resume
        check_out(self.final, overwrite)
        self.configs = json.loads(json.dumps({name: asdict(cfg) for name, cfg in configs.items()}))
        if resume:
            defaults = json.loads(json.dumps({name: {f.name: f.default for f in fields(cfg) if f.default is not MISSING}
                                              for name, cfg in configs.items()}))
            check_resumable(self.path, self.configs, defaults)
            for tmp in self.path.glob("*.tmp"):  # what a SIGKILL left half-written
                tmp.unlink()
        elif (self.path / CHECKPOINT).exists() and not overwrite:
            raise ValueError(f"{self.path} holds a stopped run: --resume continues it, --overwrite starts afresh")
        elif self.path.exists():  # a stopped run without a checkpoint has nothing to resume
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path / "config.json", json.dumps(self.configs, indent=2) + "\n")
        self.record_provenance()
        self.metrics_path = self.path / "metrics.jsonl"
        self.records: list[dict] = []
        if not resume:
            self.restore([])

    def record_provenance(self) -> None:
        """run.json: this sitting's provenance; a resumed run keeps its start's and appends this one's to "resumed"."""
        now, saved = provenance(), self.path / "run.json"
        if self.resuming and saved.is_file():
            run = json.loads(saved.read_text())
            last = (run.get("resumed") or [run])[-1]
            changed = [f"{key} {now[key]!r} (was {last.get(key)!r})" for key in now if now[key] != last.get(key)]
            if changed:
                print(f"note: resuming {self.path} on another machine ({', '.join(changed)}): from its checkpoint "
                      "on it may round differently, so not end bit for bit where it would have; run.json records both",
                      file=sys.stderr)
            now = {**run, "resumed": [*run.get("resumed", []), now]}
        write_atomically(saved, json.dumps(now, indent=2) + "\n")

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


def check_resumable(partial: Path, config_json: dict, defaults: dict | None = None) -> None:
    """``partial`` holds a checkpoint, made with ``config_json`` but perhaps another number of steps. A field its
    saved config lacks (a switch added to the code since) counts as unchanged at its value in ``defaults``."""
    if not (partial / CHECKPOINT).is_file():
        raise ValueError(f"--resume: {partial} holds no checkpoint (none saved yet, or the run finished): "
                         "start again without --resume")
    saved = json.loads((partial / "config.json").read_text())
    def saved_value(section: str, k: str):
        return saved.get(section, {}).get(k, (defaults or {}).get(section, {}).get(k, "<absent>"))

    changed = [f"{section}.{k}" for section, values in config_json.items() for k, v in values.items()
               if k != "steps" and saved_value(section, k) != v]
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


# The checkpoint and resuming


@dataclass
class TrainingState:
    """Everything a step changes that a later step reads."""

    policy: torch.nn.Module
    reference: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    prompt_rng: random.Random
    critic: torch.nn.Module | None = None
    critic_optimizer: torch.optim.Optimizer | None = None
    step: int = 0

    def modules(self) -> dict:
        names = ("policy", "reference", "optimizer", "critic", "critic_optimizer")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def state_dict(self) -> dict:
        return {"step": self.step, **{name: m.state_dict() for name, m in self.modules().items()},
                "rng": {"torch": torch.get_rng_state(), "generator": self.generator.get_state(),
                        "prompts": self.prompt_rng.getstate()}}

    def load_state_dict(self, saved: dict) -> None:
        for name, module in self.modules().items():
            module.load_state_dict(saved[name])
        torch.set_rng_state(saved["rng"]["torch"])
        self.generator.set_state(saved["rng"]["generator"])
        self.prompt_rng.setstate(saved["rng"]["prompts"])
        self.step = saved["step"]


def tensors(state: dict, prefix: str = "") -> dict:
    """Every tensor of a nested state dict, by its dotted path: what the finite check scans."""
    found = {}
    for key, value in state.items() if isinstance(state, dict) else enumerate(state):
        if isinstance(value, (dict, list, tuple)):
            found.update(tensors(value, f"{prefix}{key}."))
        elif torch.is_tensor(value):
            found[f"{prefix}{key}"] = value
    return found


def seconds_saved(path) -> float:
    """The training seconds before a checkpoint: its steps' ``wall_s``, timed as they ran (evaluations not included).

    A resumed run's later sitting does not see them; what measures a whole run adds them (experiments/sweep.py).
    """
    return sum(record.get("wall_s", 0.0) for record in atomic_load(path, FORMAT)["records"])


class Checkpoints:
    """What a loop calls to resume, to stop at a non-finite number, and to save every ``every`` steps.

    Without a run folder (tests, notebooks) it only stops the loop at a non-finite number.
    """

    def __init__(self, run: RunFolder | None = None, every: int = 0):
        self.run, self.every, self.saved = run, every, None  # saved: the step of the newest checkpoint

    def resume(self, state: TrainingState) -> bool:
        """Restore the run folder's checkpoint if the run resumes: True if it did."""
        if self.run is None or not self.run.resuming:
            return False
        path = self.run.path / CHECKPOINT
        saved = atomic_load(path, FORMAT)
        try:
            state.load_state_dict(saved)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"checkpoint {path} does not fit this run: {' '.join(str(err).split())}") from None
        steps = min((c["steps"] for c in self.run.configs.values() if "steps" in c), default=state.step)
        if state.step > steps:
            raise ValueError(f"--resume: {path} is at step {state.step}, past --steps {steps}")
        self.run.restore(saved["records"])  # the steps after the checkpoint are done again
        self.saved = state.step
        return True

    def step_done(self, record: dict, state: TrainingState) -> None:
        state.step = record["step"]
        bad = [name for name in WATCHED if name in record and not math.isfinite(record[name])]
        if bad:
            raise FloatingPointError(f"step {state.step}: {bad[0]} is {record[bad[0]]}, training stopped")
        if self.run is not None and self.every and state.step % self.every == 0:
            saved = {"format": FORMAT, **state.state_dict(), "records": self.run.records}
            if (bad := first_nonfinite(tensors(saved))) is not None:
                raise FloatingPointError(f"step {state.step}: {bad} holds a nan or an inf, training stopped")
            atomic_save(saved, self.run.path / CHECKPOINT)
            self.saved = state.step

    def __enter__(self):
        return self

    def __exit__(self, kind, err, traceback):
        """Whatever stopped the run, say where its last checkpoint is (main prints the note with the error)."""
        if err is not None and self.run is not None:
            # a resumed run repeats the same steps bit for bit, so a diverged one diverges again
            then = ("--resume repeats the same steps; change the flags and --overwrite" if kind is FloatingPointError
                    else "--resume continues it")
            kept = (f"keeps the checkpoint of step {self.saved}: {then}" if self.saved is not None
                    else f"holds no checkpoint yet (one every {self.every} steps)")
            err.__notes__ = [*getattr(err, "__notes__", []), f"{self.run.path} {kept}; {self.run.final} is unchanged"]
        return False
