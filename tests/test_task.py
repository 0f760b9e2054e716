"""The arithmetic task: worked solutions, parsing of (malformed) output, disjoint splits."""

import pytest

from minigrpo.config import TaskConfig
from minigrpo.task import (
    Problem,
    make_splits,
    parse_final_answer,
    parse_problem,
    read_jsonl,
    split_segments,
    write_jsonl,
)


def test_solution_reduces_left_to_right():
    p = parse_problem("37+45-18")
    assert p == Problem((37, 45, 18), ("+", "-"))
    assert p.solution == "37+45=82;82-18=64;#64"
    assert p.prompt == "37+45-18:"
    assert parse_problem("2-9*3").solution == "2-9=-7;-7*3=-21;#-21"  # left to right, not precedence


@pytest.mark.parametrize("text", ["", "12", "1+", "+1", "1++2", "1+2 ", "import os", "1/2"])
def test_malformed_problem_is_rejected(text):
    with pytest.raises(ValueError):
        parse_problem(text)


def test_segments_partition_the_completion():
    text = "37+45=82;82-18=64;#64"
    segments = split_segments(text)
    assert segments == [("37+45=82;", 8), ("82-18=64;", 17), ("#64", 20)]
    assert "".join(s for s, _ in segments) == text
    assert split_segments("") == [("", -1)]
    assert split_segments("1;") == [("1;", 1)]


@pytest.mark.parametrize(
    "completion, answer",
    [
        ("37+45=82;82-18=64;#64", 64),
        ("#-5", -5),
        ("37+45=82;82-18=64;#", None),
        ("37+45=82;82-18=64;#64;", None),  # the last segment is empty
        ("37+45=82;82-18=64;#6 4", None),
        ("37+45=82;82-18=64;#64#", None),
        ("__import__('os')", None),
        ("", None),
    ],
)
def test_final_answer_is_parsed_not_evaluated(completion, answer):
    assert parse_final_answer(completion) == answer


def test_splits_are_disjoint_deterministic_and_round_trip(tmp_path):
    cfg = TaskConfig(n_train=300, n_test=50, digits=1, seed=3)
    train, test = make_splits(cfg)
    assert len(train) == 300 and len(test) == 50
    assert not set(train) & set(test)
    assert make_splits(cfg) == (train, test)
    write_jsonl(train, tmp_path / "a.jsonl")
    write_jsonl(make_splits(cfg)[0], tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert read_jsonl(tmp_path / "a.jsonl") == train


def test_shipped_splits_match_the_regeneration_command(tmp_path):
    from minigrpo.lab.cli import main
    from minigrpo.task import DATA_DIR

    assert main(["data", "--out", str(tmp_path)]) == 0
    for name in ("train.jsonl", "test.jsonl"):
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes()


def test_too_many_problems_for_the_space_is_an_error():
    with pytest.raises(ValueError, match="too many"):
        make_splits(TaskConfig(num_operands=2, digits=1, operators="+", n_train=90, n_test=10))


def test_corrupt_split_file_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"problem": "1+2", "solution": "", "answer": 4}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        read_jsonl(path)


def test_numbers_are_at_most_max_digits_ascii_digits():
    from minigrpo.task import MAX_DIGITS

    assert parse_final_answer("#" + "0" * (MAX_DIGITS - 1) + "7") == 7
    assert parse_final_answer("#" + "0" * MAX_DIGITS + "7") is None
    assert parse_final_answer("#" + "9" * 5000) is None  # int() would raise past 4300 digits
    assert parse_final_answer("#٦٤") is None and parse_final_answer("#６４") is None
    with pytest.raises(ValueError, match="not a problem"):
        parse_problem("٣+٤")


@pytest.mark.parametrize("call, error, fragment", [
    (lambda: parse_problem(None), TypeError, "text must be a str, got None"),
    (lambda: parse_problem(37), TypeError, "text must be a str, got 37"),
    (lambda: Problem((1, 2), ("/",)), ValueError, r"n - 1 operators \(\+, - or \*\), got \(1, 2\) and \('/',\)"),
    (lambda: Problem((1,), ()), ValueError, "n >= 2 operands"),
    (lambda: Problem((1, 2, 3), ("+",)), ValueError, "n - 1 operators"),
    (lambda: Problem((-1, 2), ("+",)), ValueError, "integers >= 0"),
    (lambda: Problem((1.5, 2), ("+",)), ValueError, "integers >= 0"),
    (lambda: Problem([1, 2], ["+"]), TypeError, r"operands and operators must be tuples, got \[1, 2\]"),
])
def test_a_bad_problem_is_refused_where_it_is_made_naming_what_is_wrong(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


def test_a_split_file_error_quotes_only_an_excerpt_of_the_line(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_text('{"problem": "1+2", "answer": "' + "9" * 100_000 + '"}\n')
    with pytest.raises(ValueError, match="long.jsonl:1: stored answer '9999") as caught:
        read_jsonl(path)
    assert len(str(caught.value)) < len(str(path)) + 150
    with pytest.raises(ValueError, match="not a problem: '1\\+1\\+1") as caught:
        parse_problem("1+" * 100_000)
    assert len(str(caught.value)) < 200
