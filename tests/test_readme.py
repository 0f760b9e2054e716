"""The README's generated blocks (the loop diff, the bug zoo, every table of results) must match what
minigrpo/experiments/readme.py generates from the code, the checkpoints and data/results.json."""

import pytest

from minigrpo.lab.experiments import readme

BLOCKS = readme.blocks()
README = (readme.ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", list(BLOCKS))
def test_the_readme_shows_the_current_block(name):
    assert readme.shown(README, name) is not None, f"README: the {name} block is missing"
    assert readme.shown(README, name) == BLOCKS[name], (
        f"README: the {name} block is stale; regenerate it with `python tests/test_readme.py`")


def test_update_readme_rewrites_a_stale_block_and_only_it(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(README.replace(BLOCKS["credit table"], "| a stale table |"))
    assert readme.update_readme(path) == ["credit table"]
    assert path.read_text() == README
    path.write_text(README.replace("<!-- compute end -->", ""))
    with pytest.raises(ValueError, match="the block '<!-- compute start -->' ... '<!-- compute end -->' is missing"):
        readme.update_readme(path)


if __name__ == "__main__":  # rewrite the README's blocks from the code and the results file
    print("regenerated:", readme.update_readme() or "nothing, all current")
