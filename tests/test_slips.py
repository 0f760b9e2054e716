"""First slips and their kinds, by hand on completions of known problems; the hazards counted by hand."""

import pytest

from minigrpo.lab.viz.slips import KINDS, first_slip, hazards
from minigrpo.task import Problem

P = Problem((7, 5, 9, 3), ("+", "-", "+"))  # 7+5=12;12-9=3;3+3=6;#6


@pytest.mark.parametrize("completion, expected", [
    ("7+5=12;12-9=3;3+3=6;#6", None),
    ("7+5=13;13-9=4;4+3=7;#7", (0, "arithmetic")),     # a wrong result, carried on correctly after
    ("7+5=12;12-9=4;4+3=7;#7", (1, "arithmetic")),
    ("7+5=12;11-9=2;2+3=5;#5", (1, "copy")),           # the left operand is not the carried 12
    ("7+5=12;12+9=21;21+3=24;#24", (1, "copy")),       # the problem's operator is -
    ("7+5=12;12-8=4;4+3=7;#7", (1, "copy")),           # the problem's right operand is 9
    ("7+5=12;12-9=3;#3", (2, "format")),               # an early answer where step 3 belongs
    ("7+5=12;12-9=3;3+3=", (2, "format")),             # cut off inside a step
    ("7+5=12;12-9=3;3+3=6;#7", (3, "copy")),           # the answer is not the last result
    ("7+5=12;12-9=3;3+3=6;", (3, "format")),           # no answer
])
def test_first_slip_and_its_kind(completion, expected):
    assert first_slip(P, completion) == expected


def test_hazards_count_who_reaches_each_step_and_who_slips_there():
    completions = [["7+5=12;12-9=3;3+3=6;#6", "7+5=13;13-9=4;4+3=7;#7", "7+5=12;11-9=2;2+3=5;#5",
                    "7+5=12;12-9=3;#3", "7+5=12;12-9=3;3+3=6;#7"]]
    out = hazards([P], completions)
    assert list(out) == [0, 1, 2, 3]
    # reached: all 5 at step 0; 4 at step 1 (one slipped at 0); 3 at step 2; 2 at the answer step
    assert [out[j]["reached"] for j in out] == [5, 4, 3, 2]
    assert [out[j]["slips"] for j in out] == [1, 1, 1, 1]
    assert [[out[j][k] for k in KINDS] for j in out] == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]]
    assert all(out[j]["slips"] == sum(out[j][k] for k in KINDS) for j in out)
