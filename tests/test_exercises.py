"""The rebuild-it exercises: each stub matches the package's function, and --student grades a student's file."""

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from minigrpo.lab.exercises import EXERCISES, student_file

ROOT = Path(__file__).resolve().parent.parent

GOOD = """
import torch
from minigrpo.grpo.step3_group_norm import check_rewards, has_spread
def group_advantages(rewards, eps=1e-4):
    check_rewards(rewards)
    a = (rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True{population}) + eps)
    return torch.where(has_spread(rewards), a, 0.0)
"""


@pytest.mark.parametrize("name", EXERCISES)
def test_each_stub_has_the_package_signature_and_leaves_the_body_to_the_student(name):
    module_name, function, tests = EXERCISES[name]
    solution = getattr(importlib.import_module(module_name), function)
    stub = getattr(importlib.import_module(f"minigrpo.lab.exercises.{name}"), function)
    assert inspect.signature(stub) == inspect.signature(solution)
    assert "raise NotImplementedError" in inspect.getsource(stub)
    assert (ROOT / tests).is_file() and f"--student {name}" in inspect.getmodule(stub).__doc__


def grade(student: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "tests/test_step3_group_norm.py", "--student", student,
                           "-p", "no:cacheprovider", "-rf"], cwd=ROOT, capture_output=True, text=True)


def test_a_right_version_passes_and_a_wrong_one_fails_naming_the_property(tmp_path):
    right, wrong = tmp_path / "right.py", tmp_path / "wrong.py"
    right.write_text(GOOD.format(population=""))
    wrong.write_text(GOOD.format(population=", unbiased=False"))  # the population std: a convention slip
    passed = grade(str(right), tmp_path)
    assert passed.returncode == 0, passed.stdout
    assert "graded your version of: group_advantages" in passed.stdout
    failed = grade(str(wrong), tmp_path)
    assert failed.returncode == 1
    assert "FAILED tests/test_step3_group_norm.py::test_matches_numpy_on_random_rewards" in failed.stdout


def test_the_untouched_stub_fails_and_a_file_without_the_function_is_refused(tmp_path):
    assert grade("group_advantages", tmp_path).returncode == 1
    (tmp_path / "empty.py").write_text("x = 1\n")
    refused = grade(str(tmp_path / "empty.py"), tmp_path)
    assert refused.returncode != 0 and "defines none of the exercise functions" in refused.stdout + refused.stderr
    with pytest.raises(ValueError, match="no such exercise"):
        student_file("no_such_step")
