"""Verifiable rewards: pure functions of (problem, completion text).

GRPO needs only a number per completion (or per step); whether it comes from a
verifier like these, a learned reward model or an LLM judge changes nothing in the
algorithm. Completions are parsed with regular expressions, never evaluated.

- ``outcome_reward``: 1 if the final answer is right, else 0 (unparseable -> 0).
- ``format_reward``: 1 if every segment is a well-formed step or the final answer.
- ``length_penalty``: 0 up to the length of the worked solution, then -1/|solution| per
  extra character, down to -1 (a soft penalty on rambling, not on the answer).
- ``step_rewards``: one score per segment (see task.split_segments), the process
  supervision signal. Segment k < n-1 must be the step "a op b = c;" where op and b
  are the problem's k-th operator and next operand, a is the result the previous
  step wrote (the first operand for k = 0) and c = a op b. Segment n-1 must be
  the right final answer "#<answer>"; any segment beyond it scores 0.
  Judging a step against the previous *written* result localizes blame: after one
  slip, a later step that correctly carries the wrong value forward still scores 1.

They are a public API for outside text: any str gets a score in range (outcome and format
in {0, 1}, length in [-1, 0], each step in {0, 1}), never an exception. A number is 1 to
``task.MAX_DIGITS`` (24) ASCII digits: Arabic-Indic or full-width digits, or a longer number,
do not parse, so they score 0. A completion that is not a str is a TypeError.
"""

from __future__ import annotations

from dataclasses import dataclass

from .task import ANSWER_RE, STEP_RE, Problem, apply_op, parse_final_answer, split_segments


def _check(problem: Problem, completion: str) -> None:
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a task.Problem, got {type(problem).__name__}")
    if not isinstance(completion, str):
        raise TypeError(f"completion must be a str, got {type(completion).__name__}")


def outcome_reward(problem: Problem, completion: str) -> float:
    _check(problem, completion)
    return float(parse_final_answer(completion) == problem.answer)


def format_reward(problem: Problem, completion: str) -> float:
    _check(problem, completion)
    segments = split_segments(completion)
    steps_ok = all(STEP_RE.fullmatch(text) for text, _ in segments[:-1])
    return float(steps_ok and ANSWER_RE.fullmatch(segments[-1][0]) is not None)


def length_penalty(problem: Problem, completion: str) -> float:
    _check(problem, completion)
    extra = len(completion) - len(problem.solution)
    return -min(1.0, extra / len(problem.solution)) if extra > 0 else 0.0


# The components a multi-reward run can weight (GRPOConfig.reward_weights), by name.
COMPONENTS = {"correct": outcome_reward, "format": format_reward, "length": length_penalty}


@dataclass(frozen=True)
class StepScore:
    reward: float
    end: int  # index of the segment's last character in the completion text


def step_rewards(problem: Problem, completion: str) -> list[StepScore]:
    _check(problem, completion)
    n_steps = len(problem.operators)
    true_values = problem.running_values()
    carried = problem.operands[0]  # the left operand the next step should use
    scores = []
    for k, (text, end) in enumerate(split_segments(completion)):
        if k < n_steps:
            match = STEP_RE.fullmatch(text)
            ok = False
            if match:
                a, op, b, c = int(match[1]), match[2], int(match[3]), int(match[4])
                ok = (a, op, b) == (carried, problem.operators[k], problem.operands[k + 1]) and c == apply_op(a, op, b)
                carried = c
            else:
                carried = true_values[k]  # nothing was written; judge the next step against the truth
        elif k == n_steps:
            match = ANSWER_RE.fullmatch(text)
            ok = match is not None and int(match[1]) == problem.answer
        else:
            ok = False
        scores.append(StepScore(float(ok), end))
    return scores
