"""The README's generated blocks: the tables of results (tables.py), and those read from the checkpoints and the code.

Each block sits in the README between ``<!-- NAME start -->`` and ``<!-- NAME end -->``. ``update_readme``
rewrites them all (``python -m minigrpo reproduce`` does, as its last stage; so does ``python
tests/test_readme.py``), and tests/test_readme.py fails when one differs from what this module generates, so a
number in a table can never disagree with the record it came from.
"""

from __future__ import annotations

import ast
import difflib
import re
from pathlib import Path

from ...task import DATA_DIR
from . import results as res
from . import tables

ROOT = Path(__file__).resolve().parents[3]  # the repository: minigrpo/, README.md, notebooks/


def reward_models_table(data: Path = DATA_DIR) -> str:
    """The shipped reward models, from the held-out report in each checkpoint's meta."""
    from ...checkpoint import load_checkpoint
    from ..reward_models.model import ValueModel

    lines = ["| model | kind | held-out positions | agrees with its labels | agrees with the verifier | ECE | Brier "
             "| first wrong step found (labels) |", "|---|---|---|---|---|---|---|---|"]
    for name in ("orm", "prm"):
        _, meta = load_checkpoint(Path(data) / f"{name}.pt", build=ValueModel)
        r = meta["heldout"]
        first = (f"{r['first_error_found']:.1%} ({r['first_error_labels']:.1%})" if "first_error_found" in r
                 else "n/a")
        lines.append(f"| `data/{name}.pt` | {meta['kind']} | {r['positions']} | {r['accuracy']:.1%} | "
                     f"{r['verifier_accuracy']:.1%} | {r['ece']:.3f} | {r['brier']:.3f} | {first} |")
    return "\n".join(lines)


def _loop(path: str, function: str) -> list[str]:
    """sed -n '/^def NAME/,$p' FILE: the lines from the function's definition to the end of the file."""
    lines = (ROOT / path).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"def {function}"))
    return lines[start:]


def loop_diff() -> str:
    """What `diff -U1` prints for the two loops, without its two file-name lines, in a diff block."""
    grpo, ppo = _loop("minigrpo/grpo/trainer.py", "train_grpo"), _loop("minigrpo/ppo/trainer.py", "train_ppo")
    return "```diff\n" + "\n".join(list(difflib.unified_diff(grpo, ppo, n=1, lineterm=""))[2:]) + "\n```"


# The lesson's root modules in reading order (minigrpo/__init__.py); a module not listed comes after them.
READING_ORDER = ("__init__", "config", "tokenizer", "model", "task", "rewards", "masked", "checks", "warmup",
                 "evaluate", "metrics", "prefix_values", "checkpoint", "__main__", "grpo", "ppo", "lab")


def files_tree() -> str:
    """The package, one line per module: its path, its length in lines, and how its docstring begins."""
    package = ROOT / "minigrpo"

    def order(path: Path):
        parts = path.relative_to(package).with_suffix("").parts
        top = READING_ORDER.index(parts[0]) if parts[0] in READING_ORDER else len(READING_ORDER)
        return top, len(parts) > 1 and parts[0] == "lab" and len(parts) > 2, parts[:-1], parts[-1] != "__init__", parts

    lines, rooms = [], {}
    for path in sorted(package.rglob("*.py"), key=order):
        relative = path.relative_to(package)
        length = len(path.read_text().splitlines())
        room = "lab" if relative.parts[0] == "lab" else "lesson"
        rooms[room] = rooms.get(room, 0) + length
        doc = (ast.get_docstring(ast.parse(path.read_text())) or "").split("\n\n")[0].replace("\n", " ")
        first = doc if len(doc) <= 80 else doc[:doc.rfind(" ", 0, 78)] + " ..."
        lines.append(f"  {str(relative):38}{length:5}  {first}")
    head = (f"minigrpo/  the lesson {rooms['lesson']} lines (the package root, grpo/, ppo/), the lab {rooms['lab']} "
            "lines (lab/)")
    return "```\n" + "\n".join([head, *lines]) + "\n```"


def bug_table() -> str:
    """The catalogue of the bug zoo, from minigrpo/bugzoo/catalogue.py."""
    from ..bugzoo import BUGS

    lines = ["| bug | what it does (first sentence) | found in | planted against |", "|---|---|---|---|"]
    for bug in BUGS:
        first = bug.description.split(". ")[0].rstrip(".").replace("|", "\\|") + "."  # a bare | ends a cell
        where = bug.source.removeprefix("https://github.com/")
        tests = ", ".join(f"`{t.removeprefix('tests/')}`" for t in bug.tests)
        lines.append(f"| `{bug.name}` | {first} | [{where}]({bug.source}) | {tests} |")
    return "\n".join(lines)


def blocks(results: Path = res.RESULTS, data: Path = DATA_DIR) -> dict[str, str]:
    """Every generated block of the README, by name."""
    return {"loop diff": loop_diff(), "files": files_tree(), "bug zoo": bug_table(),
            "results": tables.results_table(results),
            "significance": tables.significance_table(results), "credit table": tables.credit_table(results),
            "credit tests": tables.credit_tests_table(results),
            "critic table": tables.critic_table(results),
            "credit table steps5": tables.credit_table(results, "credit_steps5"),
            "credit table steps7": tables.credit_table(results, "credit_steps7"),
            "variants": tables.variants_table(results), "reward models": reward_models_table(data),
            "reward sources": tables.reward_sources_table(results), "compute": tables.compute_table(results, data)}


def shown(readme: str, name: str) -> str | None:
    """The block the README shows under ``name``, None where it has none."""
    found = re.search(f"<!-- {name} start -->\n(.*?)\n?<!-- {name} end -->", readme, re.S)
    return found.group(1) if found else None


def update_readme(readme: Path = ROOT / "README.md", results: Path = res.RESULTS, data: Path = DATA_DIR) -> list[str]:
    """Rewrite every generated block of ``readme``; returns the names of those that changed."""
    text = Path(readme).read_text()
    changed = []
    for name, block in blocks(results, data).items():
        if shown(text, name) is None:
            raise ValueError(f"{readme}: the block '<!-- {name} start -->' ... '<!-- {name} end -->' is missing")
        if shown(text, name) != block:
            changed.append(name)
            text = re.sub(f"<!-- {name} start -->.*?<!-- {name} end -->",
                          lambda m, b=block, n=name: f"<!-- {n} start -->\n{b}\n<!-- {n} end -->", text, flags=re.S)
    Path(readme).write_text(text)
    return changed
