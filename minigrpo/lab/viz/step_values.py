"""The ideal prefix baseline on real completions: V_MC at every state between steps, and what it does at a slip.

For each sampled completion, the states between its steps (``prefix_values.step_boundaries``) get a Monte
Carlo value V_MC (``prefix_values.monte_carlo_values``) and, for comparison, the learned critic's value of
the same state. The step verifier says which steps are right. ``changes_at_step`` then collects, per step
index j, how much V moves across step j when it is the completion's first wrong step, and when it is a right
step after right steps only: compared at the same j, because values drift with position along a completion.

``localization`` is the yardstick of a critic: at each step index j, each first slip's change of V minus the mean
change, at the same step, of the completions of the same problem that ended right; the mean of those differences
for V_MC (the drop the ideal prefix baseline shows at a slip) and for the critic, and the critic's fraction of it.
A critic that localizes a slip as the ideal baseline does reproduces all of V_MC's drop: a fraction of 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...grpo import sample_group
from ...model import GPT
from ...ppo import ValueModel, completion_values
from ...prefix_values import monte_carlo_values, step_boundaries
from ...rewards import outcome_reward, step_rewards
from ...task import Problem


@dataclass(frozen=True)
class StepValues:
    """One completion: the states between its steps and their values. ``values[-1]`` is the reward itself."""

    problem: Problem
    text: str
    reward: float
    boundaries: list[int]  # token index of each state: 0, after each step but the last, after the last token
    values: list[float]  # V_MC at each state
    errors: list[float]  # its standard error
    critic: list[float]  # the critic's V at each state (the reward at the end), or [] without a critic
    step_right: list[bool]  # the verifier's verdict on each step: len(boundaries) - 1 of them


@torch.no_grad()
def step_values(policy: GPT, problems: list[Problem], group_size: int, K: int, critic: ValueModel | None = None,
                max_new_tokens: int = 32, temperature: float = 1.0,
                generator: torch.Generator | None = None) -> list[StepValues]:
    """Sample G completions per problem from ``policy``; V_MC (K continuations each) at every state between steps."""
    group = sample_group(policy, problems, group_size, max_new_tokens, temperature, generator)
    lengths = group.mask.sum(-1)  # [B, G], <eos> included
    critic_values = completion_values(critic, group) if critic is not None else None  # [B, G, T]
    rows = []
    for b, problem in enumerate(problems):
        for g, text in enumerate(group.texts[b]):
            length = int(lengths[b, g])
            rows.append((b, g, problem, text, length, step_boundaries(text, length)))
    prefixes = [group.completions[b, g, :t].tolist() for b, g, _, _, _, bounds in rows for t in bounds]
    owners = [problem for _, _, problem, _, _, bounds in rows for _ in bounds]
    values, errors = monte_carlo_values(policy, owners, prefixes, K, max_new_tokens, temperature, generator)
    out, start = [], 0
    for b, g, problem, text, _, bounds in rows:
        reward = outcome_reward(problem, text)
        critic_row = ([critic_values[b, g, t].item() for t in bounds[:-1]] + [reward]) if critic is not None else []
        out.append(StepValues(problem, text, reward, bounds, values[start:start + len(bounds)].tolist(),
                              errors[start:start + len(bounds)].tolist(), critic_row,
                              [score.reward > 0 for score in step_rewards(problem, text)]))
        start += len(bounds)
    return out


def changes_at_step(rows: list[StepValues], which: str = "values") -> dict[int, dict[str, list[float]]]:
    """{step index j: {"first wrong": [V after - V before, ...], "right": [...]}} over the given completions.

    "first wrong": step j is the completion's first step the verifier rejects. "right": step j is right and
    so are all steps before it. Steps after a first slip are left out (their state is already off track).
    ``which`` is "values" (V_MC) or "critic".
    """
    out: dict[int, dict[str, list[float]]] = {}
    for row in rows:
        v = getattr(row, which)
        for j, right in enumerate(row.step_right):
            out.setdefault(j, {"first wrong": [], "right": []})["right" if right else "first wrong"].append(
                v[j + 1] - v[j])
            if not right:
                break
    return out


def localization(rows: list[StepValues]) -> dict[int, dict[str, float]]:
    """{step index j: {"pairs", "mc", "critic", "fraction"}} over completions of several problems.

    A pair is a completion whose first wrong step is j and the completions of the same problem that ended right
    (their step j, after right steps only): its difference is the slip's V[j + 1] - V[j] minus the mean of theirs.
    "mc" and "critic" are the mean differences of V_MC and of the critic over the pairs at j, "fraction" is
    critic / mc (nan where V_MC does not drop, or where no pair exists). Rows need the critic's values."""
    by_problem: dict = {}
    for row in rows:
        by_problem.setdefault(row.problem, []).append(row)
    drops: dict[int, dict[str, list[float]]] = {}
    for same in by_problem.values():
        right = [r for r in same if r.reward > 0]
        for row in same:
            if all(row.step_right):
                continue
            j = row.step_right.index(False)
            references = [r for r in right if len(r.step_right) > j and all(r.step_right[:j + 1])]
            if not references:
                continue
            for which in ("values", "critic"):
                slip = getattr(row, which)[j + 1] - getattr(row, which)[j]
                usual = sum(getattr(r, which)[j + 1] - getattr(r, which)[j] for r in references) / len(references)
                drops.setdefault(j, {"values": [], "critic": []})[which].append(slip - usual)
    out = {}
    for j, found in sorted(drops.items()):
        mc, critic = (sum(found[w]) / len(found[w]) for w in ("values", "critic"))
        out[j] = {"pairs": len(found["values"]), "mc": mc, "critic": critic,
                  "fraction": critic / mc if mc < 0 else float("nan")}
    return out
