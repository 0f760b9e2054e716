"""The README's code blocks that show the code must match it."""

import difflib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def loop(path: str, function: str) -> list[str]:
    """sed -n '/^def NAME/,$p' FILE: the lines from the function's definition to the end of the file."""
    lines = (ROOT / path).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"def {function}"))
    return lines[start:]


def loop_diff() -> str:
    """What `diff -U1` prints for the two loops, without its two file-name lines."""
    grpo, ppo = loop("minigrpo/grpo/trainer.py", "train_grpo"), loop("minigrpo/ppo/trainer.py", "train_ppo")
    return "\n".join(list(difflib.unified_diff(grpo, ppo, n=1, lineterm=""))[2:])


def test_the_readme_shows_the_current_diff_of_the_two_loops():
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"<!-- loop diff start -->\n```diff\n(.*?)\n```\n<!-- loop diff end -->", readme, re.S)
    assert shown, "README: the loop diff block is missing"
    assert shown.group(1) == loop_diff(), "README: regenerate the loop diff (python tests/test_readme.py)"


if __name__ == "__main__":  # rewrite the README's block from the code
    readme = (ROOT / "README.md").read_text()
    block = f"<!-- loop diff start -->\n```diff\n{loop_diff()}\n```\n<!-- loop diff end -->"
    (ROOT / "README.md").write_text(re.sub(r"<!-- loop diff start -->.*?<!-- loop diff end -->", lambda m: block,
                                           readme, flags=re.S))
