"""Stopping and resuming a run: all that the next step depends on, saved atomically, restored bit for bit.

The loops call ``resume(state)`` before their first step and ``step_done(record, state)`` after each.
A run resumed from step k then draws the same prompts, samples the same completions and takes the
same optimizer steps as one that never stopped: the checkpoint holds the weights of pi_theta and
pi_ref (and V), the optimizers' moments, the sampling generator, the prompt RNG, torch's global RNG
(nothing in a step draws from NumPy's or Python's global one), the step, and the metrics so far.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from .checkpoint import atomic_load, atomic_save, first_nonfinite
from .runtime import CHECKPOINT, RunFolder

FORMAT = "minigrpo-training-state-v1"
WATCHED = ("loss", "grad_norm", "value_loss")  # a record's numbers that end the run if they are not finite


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
