"""The generated blocks of the README and the book's pages (the course map, the loop diff, the bug zoo, every table of
results) must match what minigrpo/lab/experiments/readme.py generates from the code, the notebooks, the checkpoints
and data/results.json; each block lives in exactly one document. `python tests/test_readme.py` regenerates them."""

import json
import re
import shutil

import pytest

from minigrpo.lab.experiments import readme

BLOCKS = readme.blocks()
TEXTS = {path: path.read_text() for path in readme.documents()}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_each_block_is_shown_in_exactly_one_document_and_is_current(name):
    holders = [path.name for path, text in TEXTS.items() if readme.shown(text, name) is not None]
    assert len(holders) == 1, f"the {name} block is in {holders or 'no document'}: it must be in exactly one"
    path = readme.holder(TEXTS, name)
    assert readme.shown(TEXTS[path], name) == BLOCKS[name], (
        f"{path.relative_to(readme.ROOT)}: the {name} block is stale; regenerate it with `python tests/test_readme.py`")


def test_every_block_a_document_shows_is_one_that_is_generated():
    for path, text in TEXTS.items():
        starts, ends = re.findall(r"<!-- (.+?) start -->", text), re.findall(r"<!-- (.+?) end -->", text)
        assert starts == ends, f"{path.name}: unmatched block markers"
        assert set(starts) <= set(BLOCKS), f"{path.name}: blocks nothing generates: {set(starts) - set(BLOCKS)}"


def copy_documents(to):
    """A copy of the documents under ``to``, every block current (whether or not the repository's are)."""
    (to / "docs").mkdir(parents=True)
    for path in readme.documents():
        shutil.copyfile(path, to / path.relative_to(readme.ROOT))
    readme.update_documents(to)
    return {path: path.read_text() for path in readme.documents(to)}


def test_update_documents_rewrites_a_stale_block_and_only_it(tmp_path):
    texts = copy_documents(tmp_path)
    credit = tmp_path / "docs" / "credit.md"
    credit.write_text(texts[credit].replace(BLOCKS["credit table"], "| a stale table |"))
    course = tmp_path / "README.md"
    course.write_text(texts[course].replace(BLOCKS["course map"], "| a stale map |"))
    assert readme.update_documents(tmp_path) == ["course map", "credit table"]
    assert {path: path.read_text() for path in texts} == texts


def test_a_block_in_no_document_or_in_two_is_refused(tmp_path):
    texts = copy_documents(tmp_path)
    results = tmp_path / "docs" / "results.md"
    results.write_text(texts[results].replace("<!-- compute end -->", ""))
    with pytest.raises(ValueError, match="the block '<!-- compute start -->' ... '<!-- compute end -->' is in no doc"):
        readme.update_documents(tmp_path)
    results.write_text(texts[results])
    readme_md = tmp_path / "README.md"
    readme_md.write_text(texts[readme_md] + "\n<!-- compute start -->\n<!-- compute end -->\n")
    with pytest.raises(ValueError, match="is in more than one document: README.md, results.md"):
        readme.update_documents(tmp_path)


def test_the_course_map_lists_every_notebook_in_reading_order_with_a_place_in_the_course():
    listed = re.findall(r"\]\(\./notebooks/([^)]+)\)", BLOCKS["course map"])
    assert listed == [path.name for path in readme.notebooks()]
    assert all(readme.LEVELS[path.stem] in ("core", "advanced") for path in readme.notebooks())
    assert listed.index("08b_does_the_critic_localize.ipynb") == listed.index("08_critic_vs_group_baseline.ipynb") + 1


def test_study_minutes_are_words_at_the_reading_rate_plus_a_minute_per_code_cell_rounded_up(tmp_path):
    def notebook(words: int, code_cells: int):
        path = tmp_path / "nb.ipynb"
        cells = [{"cell_type": "markdown", "source": ["# 1. A title\n", " ".join(["word"] * (words - 4))]},
                 *[{"cell_type": "code", "source": ["x = 1"]}] * code_cells]
        path.write_text(json.dumps({"cells": cells}))
        return path

    assert readme.WORDS_PER_MINUTE == 150 and readme.MINUTES_PER_CODE_CELL == 1 and readme.ROUND_TO == 5
    assert readme.study_minutes(notebook(300, 2)) == 5  # 2 + 2 = 4 minutes, rounded up
    assert readme.study_minutes(notebook(1500, 6)) == 20  # 10 + 6 = 16
    assert readme.study_minutes(notebook(1500, 5)) == 15  # exactly 15 stays 15
    assert readme.title(notebook(300, 0)) == "A title"


def test_a_notebook_without_a_place_in_the_course_stops_the_map(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "99_new.ipynb").write_text(json.dumps({"cells": [{"cell_type": "markdown",
                                                                               "source": ["# 99. New"]}]}))
    with pytest.raises(ValueError, match="99_new.ipynb has no place in the course: add it to LEVELS"):
        readme.course_map(tmp_path)


if __name__ == "__main__":  # rewrite the blocks of README.md and docs/*.md from the code and the results file
    print("regenerated:", readme.update_documents() or "nothing, all current")
