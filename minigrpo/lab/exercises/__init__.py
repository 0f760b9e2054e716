"""Rebuild-it exercises: write one function yourself, and let that function's own tests grade it.

Each file here is a template: a stub of one function of the package, with its signature, its equation, the input
checks already written, and the body left to you. You never edit it. ``make exercise NAME=group_advantages``
(``python -m minigrpo exercise group_advantages``) copies it, the first time only, to your own file
``runs/exercises/group_advantages.py`` (runs/ is ignored by git: no tracked file changes, and a second call never
overwrites your work), then grades that copy with the function's tests:

    python -m pytest tests/test_step3_group_norm.py --student runs/exercises/group_advantages.py

``--student`` takes the path of any file that defines the function (or the name of an exercise, which grades the
untouched template: it fails). A failing test's name states the property your version breaks; the package's own
function is the solution to compare with, named in ``EXERCISES``. Two exercises are larger assignments:
``train_grpo`` (the whole loop of the paper, assembled from the steps, held to the lab's loop weight for weight)
and ``token_logprobs`` (one forward pass scores every completion token, and the logits at position t predict
token t + 1).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # the repository: tests/ and runs/ are here
STUDENT_DIR = ROOT / "runs" / "exercises"  # the students' own copies; runs/ is ignored by git

# exercise -> (the package module that holds the solution, the function, the tests that grade it: files or node ids)
EXERCISES = {
    "group_advantages": ("minigrpo.grpo.step3_group_norm", "group_advantages", ("tests/test_step3_group_norm.py",)),
    "clipped_surrogate": ("minigrpo.grpo.step4_ratio_clip", "clipped_surrogate", ("tests/test_step4_ratio_clip.py",)),
    "kl_k3": ("minigrpo.grpo.step5_kl", "kl_k3", ("tests/test_step5_kl.py",)),
    "grpo_objective": ("minigrpo.grpo.step6_objective", "grpo_objective", ("tests/test_step6_objective.py",)),
    "process_advantages": ("minigrpo.grpo.step3_process_advantages", "process_advantages",
                           ("tests/test_step3_process_advantages.py",)),
    "gae": ("minigrpo.ppo.gae", "gae", ("tests/test_ppo_gae.py",)),
    "clipped_value_loss": ("minigrpo.ppo.value_loss", "clipped_value_loss", ("tests/test_ppo_value_loss.py",)),
    "reward_model_loss": ("minigrpo.lab.reward_models.model", "reward_model_loss", ("tests/test_reward_model.py",)),
    # the two assignments: the loop, held to the lab's loop (which calls the steps itself, never train_grpo), and
    # the log-probs, held to the model run on each prefix alone
    "train_grpo": ("minigrpo.grpo.trainer", "train_grpo",
                   ("tests/test_lab_loop.py::test_the_lab_loop_at_its_defaults_is_the_papers_grpo_loop",)),
    "token_logprobs": ("minigrpo.model", "token_logprobs", ("tests/test_model.py",)),
}


def tests_for(name: str) -> tuple[str, ...]:
    """The tests that grade exercise ``name`` (what ``make exercise NAME=...`` runs)."""
    if name not in EXERCISES:
        raise ValueError(f"no exercise named {name!r}; choose one of: {', '.join(EXERCISES)}")
    return EXERCISES[name][2]


def student_copy(name: str, folder: Path = STUDENT_DIR) -> tuple[Path, bool]:
    """The student's own file for exercise ``name``: ``folder/NAME.py``, copied from the template the first time.

    An existing copy is the student's work and is never overwritten. Returns (its path, whether it was just made).
    """
    tests_for(name)  # an unknown name is refused before anything is written
    mine = Path(folder) / f"{name}.py"
    if mine.exists():
        return mine, False
    mine.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(__file__).parent / f"{name}.py", mine)
    return mine, True


def grade(name: str, folder: Path = STUDENT_DIR, out=print) -> int:
    """``make exercise NAME=...``: make the student's copy if there is none, then run the exercise's tests on it.

    Returns pytest's exit code (0: every test passed).
    """
    mine, made = student_copy(name, folder)
    where = mine.resolve()
    shown = where.relative_to(ROOT) if where.is_relative_to(ROOT) else where
    if made:
        out(f"{shown}: a copy of the template, yours to edit (never overwritten: run this again to grade your edits)")
    out(f"grading your file {shown}")
    command = [sys.executable, "-m", "pytest", *tests_for(name), "--student", str(where)]
    sys.stdout.flush()  # what was said comes before pytest's report
    return subprocess.run(command, cwd=ROOT).returncode


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
