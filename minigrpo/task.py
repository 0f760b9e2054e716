"""Multi-step arithmetic with worked solutions, reduced left to right.

A problem and its prompt, solution and answer:

    problem   37+45-18
    prompt    37+45-18:
    solution  37+45=82;82-18=64;#64

Each step applies one operator to the previous result and the next operand and
ends with ';'; the final answer follows '#'. A model's completion is split into
*segments* at ';' the same way (``split_segments``); rewards.py scores them.
Nothing here evaluates text as code: operands and results are parsed with a regex.
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

from .checks import excerpt
from .config import TaskConfig

# A number is 1 to MAX_DIGITS ASCII digits. [0-9], not \d: \d also matches Arabic-Indic and full-width
# digits, which int() reads. 32 is the most an answer of TaskConfig's largest problem has (9999**8 < 10**32);
# a longer number does not parse (so scores 0), instead of reaching int()'s 4300-digit limit.
MAX_DIGITS = 32
_NUMBER = f"[0-9]{{1,{MAX_DIGITS}}}"
STEP_RE = re.compile(rf"(-?{_NUMBER})([+\-*])({_NUMBER})=(-?{_NUMBER});")
ANSWER_RE = re.compile(rf"#(-?{_NUMBER})")
PROBLEM_RE = re.compile(rf"{_NUMBER}(?:[+\-*]{_NUMBER})+")

_APPLY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def apply_op(a: int, op: str, b: int) -> int:
    return _APPLY[op](a, b)


@dataclass(frozen=True)
class Problem:
    operands: tuple[int, ...]
    operators: tuple[str, ...]

    def __post_init__(self):
        if not (isinstance(self.operands, tuple) and isinstance(self.operators, tuple)):
            raise TypeError(f"operands and operators must be tuples, got {excerpt(self.operands)} and "
                            f"{excerpt(self.operators)}")
        if len(self.operands) < 2 or len(self.operators) != len(self.operands) - 1 or \
                not all(op in _APPLY for op in self.operators) or \
                not all(isinstance(x, Integral) and not isinstance(x, bool) and x >= 0 for x in self.operands):
            raise ValueError(f"a problem is n >= 2 operands (integers >= 0) and n - 1 operators (+, - or *), got "
                             f"{excerpt(self.operands)} and {excerpt(self.operators)}")

    @property
    def text(self) -> str:
        parts = [str(self.operands[0])]
        for op, x in zip(self.operators, self.operands[1:]):
            parts += [op, str(x)]
        return "".join(parts)

    @property
    def prompt(self) -> str:
        return self.text + ":"

    def running_values(self) -> list[int]:
        """The value after each reduction: [v_1, ..., v_{n-1}]; the last is the answer."""
        values, v = [], self.operands[0]
        for op, x in zip(self.operators, self.operands[1:]):
            v = apply_op(v, op, x)
            values.append(v)
        return values

    @property
    def answer(self) -> int:
        return self.running_values()[-1]

    @property
    def solution(self) -> str:
        steps, v = [], self.operands[0]
        for op, x, result in zip(self.operators, self.operands[1:], self.running_values()):
            steps.append(f"{v}{op}{x}={result};")
            v = result
        return "".join(steps) + f"#{self.answer}"


def parse_problem(text: str) -> Problem:
    """'37+45-18' -> Problem((37, 45, 18), ('+', '-')); raises ValueError otherwise."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {excerpt(text)}")
    if not PROBLEM_RE.fullmatch(text):
        raise ValueError(f"not a problem: {excerpt(text)} (expected digits joined by + - *)")
    numbers = re.findall(r"[0-9]+", text)
    operators = re.findall(r"[+\-*]", text)
    return Problem(tuple(int(n) for n in numbers), tuple(operators))


def random_problem(rng: random.Random, cfg: TaskConfig) -> Problem:
    high = 10**cfg.digits - 1
    operands = tuple(rng.randint(0, high) for _ in range(cfg.num_operands))
    operators = tuple(rng.choice(cfg.operators) for _ in range(cfg.num_operands - 1))
    return Problem(operands, operators)


def split_segments(completion: str) -> list[tuple[str, int]]:
    """Cut a completion after each ';': [(segment text, index of its last character)].

    The segments partition the completion; an empty completion is one empty segment
    ending at index -1. '37+45=82;82-18=64;#64' -> [('37+45=82;', 8), ('82-18=64;', 17), ('#64', 20)].
    """
    segments, start = [], 0
    for i, ch in enumerate(completion):
        if ch == ";":
            segments.append((completion[start : i + 1], i))
            start = i + 1
    if start < len(completion) or not segments:
        segments.append((completion[start:], len(completion) - 1))
    return segments


def parse_final_answer(completion: str) -> int | None:
    """The integer after '#' in the last segment, or None if that segment is not '#<int>'."""
    last = split_segments(completion)[-1][0]
    match = ANSWER_RE.fullmatch(last)
    return int(match.group(1)) if match else None


def make_splits(cfg: TaskConfig) -> tuple[list[Problem], list[Problem]]:
    """Disjoint train and test problems, deterministic in ``cfg.seed``."""
    space = (10**cfg.digits) ** cfg.num_operands * len(cfg.operators) ** (cfg.num_operands - 1)
    if cfg.n_train + cfg.n_test > space // 2:
        raise ValueError(
            f"n_train + n_test = {cfg.n_train + cfg.n_test} is too many for a space of {space} problems"
        )
    rng = random.Random(cfg.seed)
    seen: set[Problem] = set()
    ordered: list[Problem] = []
    while len(ordered) < cfg.n_test + cfg.n_train:
        p = random_problem(rng, cfg)
        if p not in seen:
            seen.add(p)
            ordered.append(p)
    return ordered[cfg.n_test :], ordered[: cfg.n_test]


def write_jsonl(problems: list[Problem], path: str | Path) -> None:
    """Write through a temporary file: a split is whole or as it was, even after Ctrl-C."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with open(tmp, "w", encoding="ascii", newline="\n") as f:
            for p in problems:
                f.write(json.dumps({"problem": p.text, "solution": p.solution, "answer": p.answer}) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_jsonl(path: str | Path) -> list[Problem]:
    """The problems of a split file; anything else raises a ValueError that names the file and the line."""
    if not Path(path).is_file():
        raise ValueError(f"{path} does not exist (python -m minigrpo data --out {Path(path).parent} writes it)")
    problems = []
    with open(path, "rb") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line.decode("ascii"))
                if not isinstance(record, dict) or not isinstance(record.get("problem"), str):
                    raise ValueError('not a JSON object with a "problem" string')
                if "answer" not in record:
                    raise ValueError('no "answer"')
                p = parse_problem(record["problem"])
                if p.answer != record["answer"]:
                    raise ValueError(f"stored answer {excerpt(record['answer'])} != {p.answer}")
            except UnicodeDecodeError as err:
                raise ValueError(f"{path}:{line_no}: not ASCII (byte {line[err.start]:#x} in column {err.start + 1})") \
                    from None
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{line_no}: not JSON ({err.msg} at column {err.colno})") from None
            except ValueError as err:
                raise ValueError(f"{path}:{line_no}: {err}") from None
            problems.append(p)
    if not problems:
        raise ValueError(f"{path} holds no problems")
    return problems


DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def load_split(name: str, data_dir: str | Path = DATA_DIR, at_least: int = 1) -> list[Problem]:
    """data_dir/<name>.jsonl, which must hold ``at_least`` problems (a step draws that many without replacement)."""
    if name not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {excerpt(name)}")
    problems = read_jsonl(Path(data_dir) / f"{name}.jsonl")
    if len(problems) < at_least:
        raise ValueError(f"{Path(data_dir) / f'{name}.jsonl'} holds {len(problems)} problems, fewer than the "
                         f"{at_least} drawn per step (prompts_per_step)")
    return problems
