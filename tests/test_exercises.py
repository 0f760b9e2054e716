"""The rebuild-it exercises: each stub matches the package's function, --student grades a student's file, the
student's copy lives outside the tracked files, and the two assignments' graders catch what they must."""

import importlib
import importlib.util
import inspect
import os
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from minigrpo.lab import exercises, loop
from minigrpo.lab.exercises import EXERCISES, STUDENT_DIR, grade, student_copy, student_file

ROOT = Path(__file__).resolve().parent.parent
Ran = namedtuple("Ran", "returncode")

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
    assert tests and all((ROOT / t.split("::")[0]).is_file() for t in tests)
    assert f"make exercise NAME={name}" in inspect.getmodule(stub).__doc__


def pytest_with(student: str, *tests: str) -> subprocess.CompletedProcess:
    """pytest TESTS --student STUDENT, by default on step 3's tests (tensors of a few numbers: one thread is faster)."""
    return subprocess.run([sys.executable, "-m", "pytest", *(tests or ["tests/test_step3_group_norm.py"]),
                           "--student", student, "-p", "no:cacheprovider", "-rf"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_a_right_version_passes_and_a_wrong_one_fails_naming_the_property(tmp_path):
    right, wrong = tmp_path / "right.py", tmp_path / "wrong.py"
    right.write_text(GOOD.format(population=""))
    wrong.write_text(GOOD.format(population=", unbiased=False"))  # the population std: a convention slip
    passed = pytest_with(str(right))
    assert passed.returncode == 0, passed.stdout
    assert "graded your version of: group_advantages" in passed.stdout
    failed = pytest_with(str(wrong))
    assert failed.returncode == 1
    assert "FAILED tests/test_step3_group_norm.py::test_matches_numpy_on_random_rewards" in failed.stdout


def test_the_untouched_stub_fails_and_a_file_without_the_function_is_refused(tmp_path):
    assert pytest_with("group_advantages").returncode == 1
    (tmp_path / "empty.py").write_text("x = 1\n")
    refused = pytest_with(str(tmp_path / "empty.py"))
    assert refused.returncode != 0 and "defines none of the exercise functions" in refused.stdout + refused.stderr
    with pytest.raises(ValueError, match="no such exercise"):
        student_file("no_such_step")


def test_the_students_copy_is_made_once_outside_the_package_and_never_overwritten(tmp_path):
    template = (ROOT / "minigrpo/lab/exercises/gae.py").read_text()
    mine, made = student_copy("gae", tmp_path / "exercises")
    assert made and mine == tmp_path / "exercises" / "gae.py" and mine.read_text() == template
    mine.write_text("# my work\n")
    assert student_copy("gae", tmp_path / "exercises") == (mine, False)
    assert mine.read_text() == "# my work\n"
    with pytest.raises(ValueError, match="no exercise named 'nope'"):
        student_copy("nope", tmp_path)
    assert not (tmp_path / "nope.py").exists()


def test_the_default_copies_go_to_a_folder_git_ignores():
    ignored = subprocess.run(["git", "check-ignore", "-q", str(STUDENT_DIR / "gae.py")], cwd=ROOT)
    assert ignored.returncode in (0, 128)  # 0: ignored; 128: no git checkout here, so nothing to dirty


def test_make_exercise_grades_the_students_copy_not_the_template(tmp_path, monkeypatch, capfd):
    ran, said = [], []
    monkeypatch.setattr(exercises.subprocess, "run", lambda command, cwd: ran.append(command) or Ran(1))
    assert grade("group_advantages", tmp_path, out=said.append) == 1
    mine = tmp_path / "group_advantages.py"
    assert said == [f"{mine}: a copy of the template, yours to edit (never overwritten: run this again to grade "
                    "your edits)", f"grading your file {mine}"]
    assert ran == [[sys.executable, "-m", "pytest", "tests/test_step3_group_norm.py", "--student", str(mine)]]
    monkeypatch.undo()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tensors of a few numbers: threads cost more than they save
    mine.write_text(GOOD.format(population=""))
    said.clear()
    assert grade("group_advantages", tmp_path, out=said.append) == 0  # pytest itself, on the student's file
    assert said == [f"grading your file {mine}"] and mine.read_text() == GOOD.format(population="")
    assert "graded your version of: group_advantages" in capfd.readouterr().out


def package_loop(path: Path):
    """The package's own train_grpo, loaded from a copy of minigrpo/grpo/trainer.py as a student's file is."""
    source = (ROOT / "minigrpo/grpo/trainer.py").read_text()
    path.write_text(source.replace("from ..", "from minigrpo.").replace("from .step", "from minigrpo.grpo.step"))
    return load(path).train_grpo


def load(path: Path):
    spec = importlib.util.spec_from_file_location("student_solution", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_loop_assignment_is_held_to_the_lab_loop_which_never_calls_train_grpo(tmp_path, monkeypatch,
                                                                                    easy_warm_start):
    """The grader (tests/test_lab_loop.py, what --student train_grpo runs) with the untouched template in place of
    train_grpo fails, and with the package's own function passes; its reference, the lab's loop, never calls it."""
    import test_lab_loop

    assert "train_grpo" not in inspect.getsource(loop)  # the reference cannot be the swapped function
    assert EXERCISES["train_grpo"][2] == ("tests/test_lab_loop.py::" + test_lab_loop.GRADER.__name__,)
    monkeypatch.setattr(test_lab_loop, "train_grpo", load(ROOT / "minigrpo/lab/exercises/train_grpo.py").train_grpo)
    with pytest.raises(NotImplementedError):
        test_lab_loop.GRADER(easy_warm_start, {"supervision": "outcome"})
    monkeypatch.setattr(test_lab_loop, "train_grpo", package_loop(tmp_path / "loop.py"))
    test_lab_loop.GRADER(easy_warm_start, {"supervision": "outcome", "num_inner_steps": 2, "temperature": 0.7})


SHIFTED = """
import torch
def token_logprobs(model, prompt, prompt_valid, completion, temperature=1.0):
    tokens = torch.cat([prompt, completion], 1)
    valid = torch.cat([prompt_valid, torch.ones_like(completion, dtype=torch.bool)], 1)
    P, T = prompt.shape[1], completion.shape[1]
    logits = model(tokens, valid)[:, P - 1 + {shift} : P - 1 + {shift} + T]
    return torch.log_softmax(logits / temperature, -1).gather(-1, completion[..., None])[..., 0]
"""


@pytest.mark.parametrize("shift", [0, 1, -1], ids=["right", "one-late", "one-early"])
def test_the_logprob_assignment_catches_the_off_by_one_either_way(tmp_path, monkeypatch, tiny_model, shift):
    """The logits at position p predict token p + 1: read at P - 1 + t for completion token t, not one either side.
    The grader (tests/test_model.py, what --student token_logprobs runs) tells them apart."""
    import test_model

    assert EXERCISES["token_logprobs"][2] == ("tests/test_model.py",)
    (tmp_path / "mine.py").write_text(SHIFTED.format(shift=shift))
    monkeypatch.setattr(test_model, "token_logprobs", load(tmp_path / "mine.py").token_logprobs)
    for grader in (test_model.test_each_token_is_scored_by_the_prefix_before_it_run_alone,
                   test_model.test_token_logprobs_equal_a_manual_softmax_of_the_logits):
        if shift == 0:
            grader(tiny_model)
        else:
            with pytest.raises(AssertionError):
                grader(tiny_model)


def test_the_loop_template_is_the_papers_loop_with_its_body_left_to_the_student():
    """The set-up and the loop's first line are grpo/trainer.py's, and each function the paper's loop body calls
    is named in the template's comments: the template cannot drift from the loop it asks for."""
    import ast

    from minigrpo.grpo import trainer
    from minigrpo.lab.exercises import train_grpo as template

    paper, mine = inspect.getsource(trainer.train_grpo), inspect.getsource(template.train_grpo)
    head = paper[:paper.index(":\n", paper.index("    for step in")) + 2]
    assert mine.startswith(head) and mine.endswith("\n    return policy\n") and paper.endswith("\n    return policy\n")
    loop = next(node for node in ast.walk(ast.parse(paper)) if isinstance(node, ast.For))
    called = {node.func.id for node in ast.walk(loop) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert {"sample_group", "kl_k3", "grpo_objective"} <= called
    comments = mine[len(head):]
    assert all(name in comments for name in called - {"range", "tqdm", "sum", "len"}), called
