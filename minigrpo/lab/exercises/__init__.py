"""Rebuild-it exercises: write one step yourself, and let that step's equation tests grade it.

Each file here is a stub of one function of the package: its signature, its equation, the input
checks already written, and the body left to you. Fill it in, then run the step's tests against
your version instead of the package's:

    python -m pytest tests/test_step3_group_norm.py --student group_advantages

(``make exercise NAME=group_advantages`` does the same.) ``--student`` also takes the path of
any file that defines the function. A failing test's name states the property your version
breaks; the package's own function is the solution to compare with, named in ``EXERCISES``.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

# exercise -> (the package module that holds the solution, the function, the tests that grade it)
EXERCISES = {
    "group_advantages": ("minigrpo.grpo.step3_group_norm", "group_advantages", "tests/test_step3_group_norm.py"),
    "clipped_surrogate": ("minigrpo.grpo.step4_ratio_clip", "clipped_surrogate", "tests/test_step4_ratio_clip.py"),
    "kl_k3": ("minigrpo.grpo.step5_kl", "kl_k3", "tests/test_step5_kl.py"),
    "grpo_objective": ("minigrpo.grpo.step6_objective", "grpo_objective", "tests/test_step6_objective.py"),
    "process_advantages": ("minigrpo.grpo.step3_process_advantages", "process_advantages",
                           "tests/test_step3_process_advantages.py"),
    "gae": ("minigrpo.ppo.gae", "gae", "tests/test_ppo_gae.py"),
    "clipped_value_loss": ("minigrpo.ppo.value_loss", "clipped_value_loss", "tests/test_ppo_value_loss.py"),
    "reward_model_loss": ("minigrpo.lab.reward_models.model", "reward_model_loss", "tests/test_reward_model.py"),
}


def tests_for(name: str) -> str:
    """The test file that grades exercise ``name`` (what ``make exercise NAME=...`` runs)."""
    if name not in EXERCISES:
        raise SystemExit(f"no exercise named {name!r}; choose one of: {', '.join(EXERCISES)}")
    return EXERCISES[name][2]


def student_file(name_or_path: str) -> Path:
    """An exercise's stub in this folder, or the path of the student's own file."""
    path = Path(__file__).parent / f"{name_or_path}.py" if name_or_path in EXERCISES else Path(name_or_path)
    if not path.is_file():
        raise ValueError(f"--student {name_or_path}: no such exercise ({', '.join(EXERCISES)}) or file")
    return path


def swap_in(name_or_path: str) -> list[str]:
    """Replace, everywhere in the loaded package, each exercise function the student's file defines.

    Every module that imported the package's function (the step file itself, ``minigrpo.grpo``,
    the trainers, the variants) gets the student's, so the tests call it wherever they look.
    Returns the names swapped in.
    """
    path = student_file(name_or_path)
    spec = importlib.util.spec_from_file_location("student_solution", path)
    student = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(student)
    for info in pkgutil.walk_packages(importlib.import_module("minigrpo").__path__, "minigrpo."):
        if not info.name.endswith("__main__") and not info.name.startswith(__name__):
            importlib.import_module(info.name)
    swapped = []
    for module_name, function in ((m, f) for m, f, _ in EXERCISES.values()):
        mine = getattr(student, function, None)
        if mine is None or getattr(mine, "__module__", None) != "student_solution":
            continue
        original = getattr(importlib.import_module(module_name), function)
        for module in list(sys.modules.values()):
            if (getattr(module, "__name__", "") or "").startswith("minigrpo") and \
                    getattr(module, function, None) is original:
                setattr(module, function, mine)
        swapped.append(function)
    if not swapped:
        raise ValueError(f"{path} defines none of the exercise functions ({', '.join(EXERCISES)})")
    return swapped
