"""The bug zoo's catalogue matches today's source, and planting a bug in a copy really runs the tests on it.

The whole zoo (``python -m minigrpo bugzoo``, about a minute) is a command, not a unit test; here one cheap
bug goes through it end to end, and one harmless change shows that a survivor is reported as one.
"""

import re
from dataclasses import replace
from pathlib import Path

import pytest

from minigrpo.lab.bugzoo import BUGS, run_zoo
from minigrpo.lab.bugzoo.run import StaleBug, check_entry, run_bug
from minigrpo.lab.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.name)
def test_each_mutation_matches_the_current_source_exactly_once(bug):
    source = (REPO / "minigrpo" / bug.file).read_text()
    assert source.count(bug.old) == 1, f"stale entry: update {bug.name}'s old text to the current code"
    assert bug.new != bug.old and source.replace(bug.old, bug.new) != source


@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.name)
def test_each_bug_has_a_public_source_a_description_and_tests_that_exist(bug):
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+/(issues|pull)/\d+", bug.source)
    assert len(bug.description) > 80
    assert bug.tests and all((REPO / t.split("::")[0]).is_file() for t in bug.tests)


def test_names_are_unique_and_there_are_at_least_twelve():
    names = [b.name for b in BUGS]
    assert len(set(names)) == len(names) >= 12


def test_a_stale_entry_is_an_error_not_a_pass():
    with pytest.raises(StaleBug, match="occurs 0 times"):
        check_entry(replace(BUGS[0], old="text that is nowhere in the package"))
    with pytest.raises(StaleBug, match=r"occurs \d+ times"):
        check_entry(replace(BUGS[0], file="grpo/step5_kl.py", old="checks.tensor("))  # more than once: ambiguous
    with pytest.raises(ValueError, match="unknown bug"):
        run_zoo(["no-such-bug"])


def test_every_mutation_plants_and_compiles(capsys):
    assert run_zoo(quick=True) == 0
    assert f"{len(BUGS)} planted" in capsys.readouterr().out


def test_one_bug_planted_end_to_end_is_caught_by_its_test(capsys):
    assert run_zoo(["k3-inverted-ratio"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("k3-inverted-ratio"))
    assert " caught " in row and "tests/test_step5_kl.py::test_matches_the_formula_in_numpy" in row


def test_a_change_the_tests_do_not_see_is_reported_as_a_survivor():
    harmless = replace(BUGS[0], name="harmless", file="grpo/step5_kl.py", old="log_ratio = ref_logp - logp",
                       new="log_ratio = -(logp - ref_logp)",  # the same number, bit for bit
                       tests=("tests/test_step5_kl.py::test_by_hand_and_direction",))
    assert run_bug(harmless).status == "survived"


def test_the_command_lists_the_catalogue_and_refuses_an_unknown_bug(capsys):
    assert main(["bugzoo", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(bug.name in listed and bug.source in listed for bug in BUGS)
    assert main(["bugzoo", "--bug", "no-such-bug"]) == 2
    assert "unknown bug" in capsys.readouterr().err
