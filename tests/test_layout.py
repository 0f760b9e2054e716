"""The package's shape is part of the lesson: arrows point down, step files hold the paper only,
and the PPO loop is the GRPO loop with a critic, statement for statement."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "minigrpo"
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


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
    return {name for name in found if name.startswith("minigrpo")}


def kind(name: str) -> str:
    """root, grpo step, distributed (what processes share), grpo loop (trainer, variants), ppo (and learned_rewards
    beside it), tooling (viz, bench, exercises, bugzoo, experiments) or cli."""
    parts = name.split(".")
    if name == "minigrpo.__main__":
        return "cli"
    if len(parts) == 1 or parts[1] not in ("grpo", "ppo", "learned_rewards", "viz", "bench", "exercises", "bugzoo",
                                           "experiments", "distributed"):
        return "root"
    if parts[1] == "distributed":
        return "distributed"
    if parts[1] == "grpo":
        return "grpo step" if len(parts) == 2 or parts[2].startswith("step") else "grpo loop"
    return "ppo" if parts[1] in ("ppo", "learned_rewards") else "tooling"


# What each kind may import: lower layers only.
ALLOWED = {
    "root": {"root"},
    "grpo step": {"root", "grpo step"},
    "distributed": {"root", "grpo step", "distributed"},
    "grpo loop": {"root", "grpo step", "distributed", "grpo loop"},
    "ppo": {"root", "grpo step", "distributed", "ppo"},
    "tooling": {"root", "grpo step", "distributed", "grpo loop", "ppo", "tooling"},
    "cli": {"root", "grpo step", "distributed", "grpo loop", "ppo", "tooling"},
}


def imported_kinds(path: Path) -> dict[str, str]:
    out = {}
    for name in imports(path):
        candidates = [name, name.rpartition(".")[0]]  # "from .x import f" names f; its module is x
        module = next((c for c in candidates if c in {module_name(p) for p in MODULES}), None)
        if module and module != module_name(path):
            out[module] = kind(module)
    return out


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_only(path):
    own = kind(module_name(path))
    wrong = {m: k for m, k in imported_kinds(path).items() if k not in ALLOWED[own]}
    assert not wrong, f"{module_name(path)} ({own}) imports from a higher layer: {wrong}"


def test_grpo_package_exports_the_steps_not_the_variants():
    init = imported_kinds(PACKAGE / "grpo" / "__init__.py")
    assert set(init.values()) == {"grpo step"}


def test_the_root_package_is_the_reading_list():
    tooling = {"analysis.py", "plots.py", "bench.py"}
    assert not tooling & {p.name for p in PACKAGE.glob("*.py")}
    assert not any(p.name.startswith("bench") for p in PACKAGE.glob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_file_reads_in_one_sitting(path):
    assert len(path.read_text().splitlines()) <= 250


SHARED = ["sample_group", "score_outcomes", "group_logprobs", "probability_ratio", "clipped_surrogate", "kl_k3",
          "clip_grad_norm_", "clip_fraction", "step_metrics", "greedy_accuracy"]


def calls_in_order(path: Path, function: str) -> list[str]:
    tree = ast.parse(path.read_text())
    body = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
    calls = [n for n in ast.walk(body) if isinstance(n, ast.Call)]
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
