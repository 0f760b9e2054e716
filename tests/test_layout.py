"""The package's shape is part of the lesson: the paper and the textbook first, the lab around them.

Nothing in the lesson imports the lab (the lab may import the lesson); inside the lesson, arrows point down (the
root modules, then GRPO's steps, then the two loops); and the PPO loop is the GRPO loop with a critic, statement for
statement, so that ``diff grpo/trainer.py ppo/trainer.py`` is the critic lesson and little else.
"""

import ast
import difflib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "minigrpo"
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))
DOOR = "minigrpo.__main__"  # ``python -m minigrpo``: the one lesson file that hands over to the lab's command line


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


NAMES = {module_name(p) for p in MODULES}


def imports(path: Path) -> set[str]:
    """The minigrpo modules a file imports, relative imports resolved, at any depth of the file."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            target = ".".join(p for p in (base, node.module) if p) if node.level else node.module
            found |= {f"{target}.{alias.name}" for alias in node.names} | {target}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    modules = set()
    for name in found:
        module = next((c for c in (name, name.rpartition(".")[0]) if c in NAMES), None)
        if module and module != module_name(path):
            modules.add(module)
    return modules


def layer(name: str) -> str:
    """lab, grpo loop, ppo, grpo step, or root (the lesson's modules: config, model, task, rewards, ...)."""
    parts = name.split(".")
    if len(parts) > 1 and parts[1] == "lab":
        return "lab"
    if len(parts) > 1 and parts[1] == "grpo":
        return "grpo loop" if parts[-1] == "trainer" else "grpo step"
    if len(parts) > 1 and parts[1] == "ppo":
        return "ppo"
    return "root"


# What each layer of the lesson may import: lower layers only. The lab may import anything.
ALLOWED = {
    "root": {"root"},
    "grpo step": {"root", "grpo step"},
    "grpo loop": {"root", "grpo step"},
    "ppo": {"root", "grpo step", "ppo"},
}
LESSON = [p for p in MODULES if layer(module_name(p)) != "lab" and module_name(p) != DOOR]


@pytest.mark.parametrize("path", LESSON, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_nothing_in_the_lesson_imports_the_lab(path):
    lab = sorted(m for m in imports(path) if layer(m) == "lab")
    assert not lab, f"{module_name(path)} is the lesson and imports the lab: {lab}"


@pytest.mark.parametrize("path", LESSON, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_lessons_imports_point_down_only(path):
    own = layer(module_name(path))
    wrong = {m: layer(m) for m in imports(path) if layer(m) not in ALLOWED[own]}
    assert not wrong, f"{module_name(path)} ({own}) imports from a higher layer: {wrong}"


def test_the_door_only_hands_over_to_the_lab_command_line():
    assert imports(PACKAGE / "__main__.py") == {"minigrpo.lab.cli"}


def test_the_layout_test_sees_the_lab_and_the_lesson():
    """A guard for the guards above: if the lab moved or the resolution broke, they would pass vacuously."""
    assert any(layer(module_name(p)) == "lab" for p in MODULES)
    assert "minigrpo.lab.loop" in imports(PACKAGE / "lab" / "cli.py") | {
        m for p in (PACKAGE / "lab").rglob("*.py") for m in imports(p)}
    assert {"minigrpo.grpo.step4_ratio_clip", "minigrpo.ppo.gae"} <= imports(PACKAGE / "lab" / "loop.py")


def test_grpo_package_exports_the_steps_only():
    assert {layer(m) for m in imports(PACKAGE / "grpo" / "__init__.py")} == {"grpo step"}


SHARED = ["sample_group", "score_outcomes", "group_logprobs", "probability_ratio", "clipped_surrogate", "kl_k3",
          "clip_grad_norm_", "clip_fraction", "step_metrics", "greedy_accuracy"]


def function_body(path: Path, function: str) -> ast.FunctionDef:
    return next(n for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef) and n.name == function)


def calls_in_order(path: Path, function: str) -> list[str]:
    calls = [n for n in ast.walk(function_body(path, function)) if isinstance(n, ast.Call)]
    names = [(c.lineno, c.col_offset, c.func.id if isinstance(c.func, ast.Name) else c.func.attr) for c in calls
             if isinstance(c.func, (ast.Name, ast.Attribute))]
    return [name for _, _, name in sorted(names) if name in SHARED]


def test_the_ppo_loop_calls_the_shared_steps_in_grpos_order():
    grpo = calls_in_order(PACKAGE / "grpo" / "trainer.py", "train_grpo")
    ppo = calls_in_order(PACKAGE / "ppo" / "trainer.py", "train_ppo")
    assert grpo[:9] == ["greedy_accuracy", "sample_group", "score_outcomes", "group_logprobs", "group_logprobs",
                        "probability_ratio", "clipped_surrogate", "kl_k3", "clip_grad_norm_"]
    critic_clip = ppo.index("clip_grad_norm_", ppo.index("clip_fraction"))  # PPO clips the critic's gradient too
    assert ppo[:critic_clip] + ppo[critic_clip + 1:] == grpo


def code_lines(path: Path, function: str) -> list[str]:
    """The function's body as written, without its docstring, comments and blank lines."""
    body = function_body(path, function)
    lines = path.read_text().splitlines()[body.body[1].lineno - 1:body.end_lineno]
    return [line.split("  #")[0].rstrip() for line in lines if line.strip() and not line.strip().startswith("#")]


def test_the_two_loops_differ_by_the_critic_and_little_else():
    grpo = code_lines(PACKAGE / "grpo" / "trainer.py", "train_grpo")
    ppo = code_lines(PACKAGE / "ppo" / "trainer.py", "train_ppo")
    changed = [line for line in difflib.unified_diff(grpo, ppo, lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert len(grpo) <= 70, f"the paper's loop should read in one screen, it has {len(grpo)} code lines"
    assert len(changed) < 40, f"diff grpo/trainer.py ppo/trainer.py changes {len(changed)} code lines"
    assert any("gae(" in line for line in changed) and any("clipped_value_loss(" in line for line in changed)
