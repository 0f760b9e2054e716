"""Verifiable rewards: outcome, format and per-step (process) scores, recomputed by hand."""

from minigrpo.rewards import COMPONENTS, format_reward, length_penalty, outcome_reward, step_rewards
from minigrpo.task import parse_problem

P = parse_problem("37+45-18")  # 37+45=82;82-18=64;#64


def scores(text):
    return [(s.reward, s.end) for s in step_rewards(P, text)]


def test_outcome_reward_is_one_only_for_the_right_final_answer():
    assert outcome_reward(P, "37+45=82;82-18=64;#64") == 1.0
    assert outcome_reward(P, "#64") == 1.0  # the outcome reward does not look at the steps
    assert outcome_reward(P, "37+45=82;82-18=64;#65") == 0.0
    assert outcome_reward(P, "37+45=82;82-18=64") == 0.0  # no final answer
    assert outcome_reward(P, "") == 0.0


def test_format_reward_checks_the_shape_not_the_arithmetic():
    assert format_reward(P, "37+45=83;83-18=65;#65") == 1.0
    assert format_reward(P, "37+45=82;82-18=64;") == 0.0
    assert format_reward(P, "37+45=82;82-18=64;#64;1") == 0.0
    assert format_reward(P, "37+45=8?2;#64") == 0.0


def test_correct_solution_scores_every_step():
    assert scores("37+45=82;82-18=64;#64") == [(1.0, 8), (1.0, 17), (1.0, 20)]


def test_a_slip_is_blamed_on_its_own_step_and_the_answer_only():
    # 37+45=83 is wrong; 83-18=65 correctly carries 83 forward; #65 is the wrong answer
    assert scores("37+45=83;83-18=65;#65") == [(0.0, 8), (1.0, 17), (0.0, 20)]


def test_a_step_must_use_the_problems_next_operator_and_operand():
    assert scores("37+45=82;82+18=100;#100") == [(1.0, 8), (0.0, 18), (0.0, 22)]
    assert scores("37+45=82;82-19=63;#63") == [(1.0, 8), (0.0, 17), (0.0, 20)]
    assert scores("37+46=83;83-18=65;#65") == [(0.0, 8), (1.0, 17), (0.0, 20)]


def test_malformed_and_extra_segments_score_zero():
    assert scores("37+45=82;garbage;#64") == [(1.0, 8), (0.0, 16), (1.0, 19)]
    assert scores("37+45=82;82-18=64;#64;#64") == [(1.0, 8), (1.0, 17), (0.0, 21), (0.0, 24)]
    assert scores("#64") == [(0.0, 2)]  # skipping the steps is not a step
    assert scores("") == [(0.0, -1)]


def test_length_penalty_starts_after_the_worked_solution_and_stops_at_minus_one():
    # the solution "37+45=82;82-18=64;#64" has 21 characters
    assert length_penalty(P, "37+45=82;82-18=64;#64") == 0.0
    assert length_penalty(P, "#64") == 0.0  # shorter is not rewarded, only longer is penalized
    assert length_penalty(P, "37+45=82;82-18=64;#64;1+1=2") == -6 / 21
    assert length_penalty(P, "1" * 60) == -1.0


def test_components_are_named_reward_functions():
    assert COMPONENTS == {"correct": outcome_reward, "format": format_reward, "length": length_penalty}


def test_only_ascii_digits_are_numbers():
    # \d and int() also read Arabic-Indic and full-width digits: "#٦٤" would have been the right answer
    for digits in ("٠١٢٣٤٥٦٧٨٩", "０１２３４５６７８９"):
        foreign = "37+45=82;82-18=64;#64".translate(str.maketrans("0123456789", digits))
        assert outcome_reward(P, foreign) == format_reward(P, foreign) == 0.0
        assert [s.reward for s in step_rewards(P, foreign)] == [0.0, 0.0, 0.0]
    assert outcome_reward(P, "#" + "9" * 5000) == 0.0  # past int()'s digit limit: wrong, not an error
