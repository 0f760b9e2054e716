"""The mystery bug: one catalogued bug, planted unnamed in a copy of the repository, found again by --reveal."""

from pathlib import Path

import pytest

from minigrpo.lab.bugzoo import BUGS
from minigrpo.lab.bugzoo.mystery import MARK, plant_mystery, planted, reveal
from minigrpo.lab.bugzoo.run import imported_from
from minigrpo.lab.cli import main

REPO = Path(__file__).resolve().parent.parent


def files(root: Path) -> dict[str, bytes]:
    """Every file under root/minigrpo and root/tests, by path relative to root (caches left out)."""
    return {str(p.relative_to(root)): p.read_bytes() for folder in ("minigrpo", "tests")
            for p in sorted((root / folder).rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def test_the_copy_differs_from_the_package_by_exactly_the_planted_bug(tmp_path):
    bug = plant_mystery(tmp_path / "mystery", seed=0)
    assert bug in BUGS
    package, copy = files(REPO), files(tmp_path / "mystery")
    changed = {path for path in package.keys() | copy.keys() if package.get(path) != copy.get(path)}
    assert changed == {f"minigrpo/{bug.file}"}
    expected = (REPO / "minigrpo" / bug.file).read_text().replace(bug.old, bug.new)
    assert (tmp_path / "mystery" / "minigrpo" / bug.file).read_text() == expected
    assert (tmp_path / "mystery" / "README.md").read_bytes() == (REPO / "README.md").read_bytes()  # what tests read
    assert (tmp_path / "mystery" / "data").resolve() == (REPO / "data").resolve()
    assert not (tmp_path / "mystery" / ".git").exists() and not (tmp_path / "mystery" / "runs").exists()


def test_the_folder_does_not_name_the_bug_and_reveal_does(tmp_path, capsys):
    assert main(["bugzoo", "--mystery", "--seed", "5", "--dir", str(tmp_path / "m")]) == 0
    bug = planted(tmp_path / "m")
    hunt = capsys.readouterr().out
    assert not any(b.name in hunt for b in BUGS)
    assert f"PYTHONPATH={(tmp_path / 'm').resolve()}" in hunt and "--num-inner-steps 2" in hunt
    assert bug.name not in (tmp_path / "m" / MARK).read_text()
    assert main(["bugzoo", "--reveal", "--dir", str(tmp_path / "m")]) == 0
    told = capsys.readouterr().out
    assert told.startswith(f"The mystery bug: {bug.name}") and bug.source in told
    removed = [line[1:] for line in told.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in told.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert any(bug.old in line for line in removed) and any(bug.new in line for line in added)


def test_a_seed_reproduces_the_choice_and_a_second_mystery_replaces_the_first(tmp_path):
    chosen = {seed: plant_mystery(tmp_path / "m", seed) for seed in range(6)}
    assert len(set(chosen.values())) > 1  # the seed chooses
    first, second = next((a, b) for a in chosen for b in chosen if chosen[a] != chosen[b])
    plant_mystery(tmp_path / "m", first)
    (tmp_path / "m" / "scratch.txt").write_text("left by the first hunt")
    assert plant_mystery(tmp_path / "m", second) == chosen[second] == planted(tmp_path / "m")
    assert not (tmp_path / "m" / "scratch.txt").exists()
    source = (tmp_path / "m" / "minigrpo" / chosen[first].file).read_text()
    assert chosen[first].new not in source or chosen[first].file == chosen[second].file  # the first bug is gone
    assert plant_mystery(tmp_path / "again", second) == chosen[second]


def test_a_folder_that_holds_no_mystery_is_never_replaced(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds no mystery bug"):
        plant_mystery(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="holds no mystery bug"):
        reveal(tmp_path / "mine")
    assert main(["bugzoo", "--seed", "1"]) == 2 and "--seed chooses the bug of --mystery" in capsys.readouterr().err


def test_the_hunts_commands_run_the_copy_not_the_installed_package(tmp_path):
    plant_mystery(tmp_path / "m", seed=0)
    copy = (tmp_path / "m").resolve()
    assert imported_from(copy) == str(copy / "minigrpo" / "__init__.py")
