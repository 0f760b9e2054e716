"""The README's blocks that show the code, or numbers from a results file, must match them."""

import difflib
import json
import re
from pathlib import Path

import pytest

from minigrpo.bugzoo import BUGS
from minigrpo.sweep import method_rows

ROOT = Path(__file__).resolve().parent.parent
CREDIT = ROOT / "data" / "sweeps" / "credit.json"


def loop(path: str, function: str) -> list[str]:
    """sed -n '/^def NAME/,$p' FILE: the lines from the function's definition to the end of the file."""
    lines = (ROOT / path).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"def {function}"))
    return lines[start:]


def loop_diff() -> str:
    """What `diff -U1` prints for the two loops, without its two file-name lines."""
    grpo, ppo = loop("minigrpo/grpo/trainer.py", "train_grpo"), loop("minigrpo/ppo/trainer.py", "train_ppo")
    return "\n".join(list(difflib.unified_diff(grpo, ppo, n=1, lineterm=""))[2:])


def credit_table() -> str:
    """The README's table of the credit sweep, from data/sweeps/credit.json."""
    def cell(mean_half):
        mean, half = mean_half
        return f"{mean:.3f}" if half != half else f"{mean:.3f} ± {half:.3f}"

    lines = ["| run | seeds | final accuracy | best accuracy | s per step | zero-spread groups | tokens with A ≠ 0 "
             "| mean \\|A\\| |", "|---|---|---|---|---|---|---|---|"]
    for row in method_rows(json.loads(CREDIT.read_text())["runs"]):
        lines.append(f"| `{row['name']}` | {row['seeds']} | {cell(row['final'])} | {cell(row['best'])} | "
                     f"{row['step_s']:.2f} | {row['zero_spread_frac']:.2f} | {row['adv_nonzero_frac']:.2f} | "
                     f"{row['adv_abs_mean']:.3f} |")
    return "\n".join(lines)


def bug_table() -> str:
    """The README's catalogue of the bug zoo, from minigrpo/bugzoo/catalogue.py."""
    lines = ["| bug | what it does (first sentence) | found in | planted against |", "|---|---|---|---|"]
    for bug in BUGS:
        first = bug.description.split(". ")[0].rstrip(".").replace("|", "\\|") + "."  # a bare | ends a cell
        where = bug.source.removeprefix("https://github.com/")
        tests = ", ".join(f"`{t.removeprefix('tests/')}`" for t in bug.tests)
        lines.append(f"| `{bug.name}` | {first} | [{where}]({bug.source}) | {tests} |")
    return "\n".join(lines)


def reward_models_table() -> str:
    """The README's table of the shipped reward models, from the held-out report in each checkpoint's meta."""
    from minigrpo.checkpoint import load_checkpoint
    from minigrpo.reward_model import RewardModel

    lines = ["| model | kind | held-out positions | agrees with its labels | agrees with the verifier | ECE | Brier "
             "| first wrong step found (labels) |", "|---|---|---|---|---|---|---|---|"]
    for name in ("orm", "prm"):
        _, meta = load_checkpoint(ROOT / "data" / f"{name}.pt", build=RewardModel)
        r = meta["heldout"]
        first = (f"{r['first_error_found']:.1%} ({r['first_error_labels']:.1%})" if "first_error_found" in r
                 else "n/a")
        lines.append(f"| `data/{name}.pt` | {meta['kind']} | {r['positions']} | {r['accuracy']:.1%} | "
                     f"{r['verifier_accuracy']:.1%} | {r['ece']:.3f} | {r['brier']:.3f} | {first} |")
    return "\n".join(lines)


# reward source -> (sweep summary, run name)
SOURCES = [("outcome verifier", "credit", "grpo_outcome"), ("ORM `data/orm.pt`", "reward_models", "grpo_orm"),
           ("step verifier", "credit", "grpo_process"), ("PRM `data/prm.pt`", "reward_models", "grpo_prm"),
           ("step verifier, 20% of labels flipped", "step_label_noise", "grpo_process_noise0.2")]


def reward_sources_table() -> str:
    """The README's table of GRPO on each reward source (seed 0), from data/sweeps/."""
    lines = ["| reward source | run | final accuracy | best accuracy | learned reward, last 10 steps | "
             "verifier reward, last 10 steps | mean KL | trained on |", "|---|---|---|---|---|---|---|---|"]
    for label, plan, name in SOURCES:
        path = ROOT / "data" / "sweeps" / f"{plan}.json"
        run = json.loads(path.read_text())["runs"].get(name, {}).get("0") if path.exists() else None
        if run is None:
            lines.append(f"| {label} | `{name}` | not run yet (`make sweep`) | | | | | |")
            continue
        learned = run["series"].get("learned_reward_mean")
        best = max(a["accuracy"] for a in run["accuracy"])
        lines.append(f"| {label} | `{name}` | {run['accuracy'][-1]['accuracy']:.3f} | {best:.3f} | "
                     f"{f'{learned[-1]:.3f}' if learned else '-'} | {run['series']['reward_mean'][-1]:.3f} | "
                     f"{run['mean']['kl']:.3f} | {run.get('cpu', 'not recorded')} |")
    return "\n".join(lines)


BLOCKS = {"loop diff": lambda: f"```diff\n{loop_diff()}\n```", "credit table": credit_table, "bug zoo": bug_table,
          "reward models": reward_models_table, "reward sources": reward_sources_table}


def test_the_readme_shows_the_current_credit_table():
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"<!-- credit table start -->\n(.*?)\n<!-- credit table end -->", readme, re.S)
    assert shown, "README: the credit table block is missing"
    assert shown.group(1) == credit_table(), "README: regenerate the credit table (python tests/test_readme.py)"


def test_the_readme_shows_the_current_bug_zoo():
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"<!-- bug zoo start -->\n(.*?)\n<!-- bug zoo end -->", readme, re.S)
    assert shown, "README: the bug zoo block is missing"
    assert shown.group(1) == bug_table(), "README: regenerate the bug zoo table (python tests/test_readme.py)"


def test_the_readme_shows_the_current_diff_of_the_two_loops():
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"<!-- loop diff start -->\n```diff\n(.*?)\n```\n<!-- loop diff end -->", readme, re.S)
    assert shown, "README: the loop diff block is missing"
    assert shown.group(1) == loop_diff(), "README: regenerate the loop diff (python tests/test_readme.py)"


@pytest.mark.parametrize("name", ["reward models", "reward sources"])
def test_the_readme_shows_the_current_reward_tables(name):
    readme = (ROOT / "README.md").read_text()
    shown = re.search(f"<!-- {name} start -->\n(.*?)\n<!-- {name} end -->", readme, re.S)
    assert shown, f"README: the {name} block is missing"
    assert shown.group(1) == BLOCKS[name](), f"README: regenerate the {name} table (python tests/test_readme.py)"


if __name__ == "__main__":  # rewrite the README's blocks from the code and the results files
    readme = (ROOT / "README.md").read_text()
    for name, make in BLOCKS.items():
        block = f"<!-- {name} start -->\n{make()}\n<!-- {name} end -->"
        readme = re.sub(f"<!-- {name} start -->.*?<!-- {name} end -->", lambda m, block=block: block, readme,
                        flags=re.S)
    (ROOT / "README.md").write_text(readme)
