"""Step 2: scoring a group, per completion or per step, with the step-end token indices."""

import math

import pytest
import torch

from minigrpo.grpo import Group, score_outcomes, score_steps
from minigrpo.rewards import StepScore, outcome_reward, step_rewards
from minigrpo.task import parse_problem
from minigrpo.tokenizer import EOS_ID, PAD_ID, encode


def make_group(problems, texts, eos=True):
    """A hand-made group: texts [B][G] -> completion tokens with <eos> (if eos) and padding."""
    rows = [encode(t) + ([EOS_ID] if eos else []) for ts in texts for t in ts]
    T = max(len(r) for r in rows)
    tokens = torch.full((len(rows), T), PAD_ID)
    for i, r in enumerate(rows):
        tokens[i, : len(r)] = torch.tensor(r)
    B, G = len(texts), len(texts[0])
    empty = torch.zeros(B, G, 1, dtype=torch.long)
    return Group(problems, empty, empty.bool(), tokens.view(B, G, T), (tokens != PAD_ID).view(B, G, T),
                 torch.zeros(B, G, T), texts)


P = parse_problem("37+45-18")
Q = parse_problem("1+2+3")


def test_outcome_rewards_have_shape_b_by_g():
    group = make_group([P, Q], [["37+45=82;82-18=64;#64", "#1"], ["1+2=3;3+3=6;#6", "1+2=3;3+3=7;#7"]])
    assert score_outcomes(outcome_reward, group).tolist() == [[1.0, 0.0], [1.0, 0.0]]


@pytest.mark.parametrize("bad", [math.nan, math.inf, "x"])
def test_a_bad_reward_value_stops_with_a_clear_error(bad):
    group = make_group([P], [["#64", "#1"]])
    with pytest.raises(ValueError):
        score_outcomes(lambda problem, text: bad, group)


def test_step_ends_are_token_indices_and_the_last_step_owns_the_eos():
    texts = [["37+45=82;82-18=64;#64", "37+45=83;#83"]]
    step_r, step_ends, step_mask = score_steps(step_rewards, make_group([P], texts))
    assert step_r.tolist() == [[[1, 1, 1], [0, 0, 0]]]
    # '#64' ends at character 20; the <eos> is token 21. '#83' ends at 11; its <eos> is 12.
    assert step_ends.tolist() == [[[8, 17, 21], [8, 12, 0]]]
    assert step_mask.tolist() == [[[True, True, True], [True, True, False]]]


def test_truncated_completion_keeps_its_last_token_as_the_last_step_end():
    step_r, step_ends, _ = score_steps(step_rewards, make_group([P], [["37+45=82;82-", "37+45"]], eos=False))
    assert step_ends.tolist() == [[[8, 11], [4, 0]]]


def test_step_function_with_inconsistent_ends_is_rejected():
    group = make_group([P], [["37+45=82;#82", "#1"]])
    with pytest.raises(ValueError, match="ends increase"):
        score_steps(lambda p, t: [StepScore(1.0, 3)], group)  # does not reach the last character
    with pytest.raises(ValueError, match="ends increase"):
        score_steps(lambda p, t: [StepScore(1.0, 5), StepScore(1.0, 5), StepScore(0.0, len(t) - 1)], group)
    with pytest.raises(ValueError, match="non-finite"):
        score_steps(lambda p, t: [StepScore(math.nan, len(t) - 1)], group)
