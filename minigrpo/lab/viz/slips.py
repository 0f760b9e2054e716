"""Where completions go wrong: per step index, how many completions reach the step with right steps only, how many
of those slip there, and what kind of slip it is.

A completion's first wrong step (``rewards.step_rewards``) is one of three kinds:

- **arithmetic**: the step is ``a op b = c;`` with the right operands and operator, and a wrong result c;
- **copy**: the step's left operand is not the result carried from the step before (or its right operand or its
  operator is not the problem's);
- **format**: the step is not of the form ``a op b = c;`` at all (a missing step, an early answer, a cut-off).

The hazard at step j, slips / reached, is the chance that a completion still on track slips there. On a longer
chain the same per-step hazard leaves fewer completions right at the end, and a group of G completions has more
places where one outcome reward has to stand for many steps.
"""

from __future__ import annotations

from ...rewards import step_rewards
from ...task import ANSWER_RE, STEP_RE, Problem, split_segments

KINDS = ("arithmetic", "copy", "format")


def first_slip(problem: Problem, completion: str) -> tuple[int, str] | None:
    """(index j of the first wrong step, its kind) of a completion, or None if every step is right. The answer after
    the last step is step n: "copy" if it is an answer other than the last result, "format" if it is no answer (or
    if anything follows it)."""
    scores, n = step_rewards(problem, completion), len(problem.operators)
    wrong = [j for j, score in enumerate(scores) if score.reward == 0]
    if not wrong:
        return None if len(scores) > n else (len(scores), "format")  # right so far, and stopped before the answer
    j = wrong[0]
    text = split_segments(completion)[j][0]
    if j >= n:
        return j, "copy" if j == n and ANSWER_RE.fullmatch(text) else "format"
    match = STEP_RE.fullmatch(text)
    if not match:
        return j, "format"
    carried = problem.operands[0] if j == 0 else problem.running_values()[j - 1]  # the steps before j are right
    if (int(match[1]), match[2], int(match[3])) != (carried, problem.operators[j], problem.operands[j + 1]):
        return j, "copy"
    return j, "arithmetic"


def hazards(problems: list[Problem], completions: list[list[str]]) -> dict[int, dict[str, int]]:
    """{step index j: {"reached", "slips", and one count per kind}} over the completions of each problem, for j from
    0 to the longest problem's answer step. A completion reaches step j when its steps before j are right."""
    steps = max(len(p.operators) for p in problems) + 1
    out = {j: {"reached": 0, "slips": 0, **{kind: 0 for kind in KINDS}} for j in range(steps)}
    for problem, texts in zip(problems, completions, strict=True):
        n = len(problem.operators)
        for text in texts:
            slip = first_slip(problem, text)
            last = min(slip[0], n) if slip else n  # the last step index it reaches
            for j in range(last + 1):
                out[j]["reached"] += 1
            if slip:  # anything wrong after the answer is the answer's slip
                out[last]["slips"] += 1
                out[last][slip[1]] += 1
    return out
