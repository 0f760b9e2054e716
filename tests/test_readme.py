"""The README's generated blocks (the loop diff, the bug zoo, every table of results) must match what
minigrpo/experiments/tables.py generates from the code, the checkpoints and data/results.json."""

import shutil

import pytest

from minigrpo.experiments import tables

BLOCKS = tables.blocks()
README = (tables.ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", list(BLOCKS))
def test_the_readme_shows_the_current_block(name):
    assert tables.shown(README, name) is not None, f"README: the {name} block is missing"
    assert tables.shown(README, name) == BLOCKS[name], (
        f"README: the {name} block is stale; regenerate it with `python tests/test_readme.py`")


def test_update_readme_rewrites_a_stale_block_and_only_it(tmp_path):
    readme = tmp_path / "README.md"
    shutil.copy(tables.ROOT / "README.md", readme)
    stale = README.replace(BLOCKS["credit table"], "| a stale table |")
    readme.write_text(stale)
    assert tables.update_readme(readme) == ["credit table"]
    assert readme.read_text() == README
    readme.write_text(README.replace("<!-- compute end -->", ""))
    with pytest.raises(ValueError, match="the block '<!-- compute start -->' ... '<!-- compute end -->' is missing"):
        tables.update_readme(readme)


if __name__ == "__main__":  # rewrite the README's blocks from the code and the results file
    print("regenerated:", tables.update_readme() or "nothing, all current")
