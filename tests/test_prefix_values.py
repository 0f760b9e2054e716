"""Monte Carlo prefix values V_MC(q, o_<t): the mean outcome of K continuations, against exact values."""

import math

import pytest
import torch

from minigrpo import prefix_values
from minigrpo.prefix_values import monte_carlo_values, step_boundaries
from minigrpo.task import parse_problem
from minigrpo.tokenizer import ALPHABET, EOS_ID, VOCAB_SIZE, encode

PROBLEM = parse_problem("2+3")


class Coin(torch.nn.Module):
    """A policy whose value is known: after '#' it writes '5' with probability p, else '6', then <eos>;
    after anything else it writes ';' (so a prefix without '#' never reaches an answer)."""

    def __init__(self, p: float):
        super().__init__()
        self.cfg = type("cfg", (), {"n_layer": 1, "block_size": 64})()
        self.p = p
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, tokens, valid, cache=None):
        logits = torch.full((*tokens.shape, VOCAB_SIZE), -math.inf)
        last = tokens[..., None]
        after_hash = last == ALPHABET.index("#")
        after_digit = (last >= ALPHABET.index("0")) & (last <= ALPHABET.index("9"))
        logits[..., ALPHABET.index("5")] = torch.where(after_hash[..., 0], math.log(self.p), -math.inf)
        logits[..., ALPHABET.index("6")] = torch.where(after_hash[..., 0], math.log(1 - self.p), -math.inf)
        logits[..., EOS_ID] = torch.where(after_digit[..., 0], 0.0, -math.inf)
        logits[..., ALPHABET.index(";")] = torch.where(~(after_hash | after_digit)[..., 0], 0.0, -math.inf)
        return logits


@pytest.mark.parametrize("p", [0.3, 0.8])
def test_value_is_the_probability_of_a_right_finish(p):
    K = 2000
    value, se = monte_carlo_values(Coin(p), [PROBLEM], [encode("2+3=5;#")], K, max_new_tokens=12,
                                   generator=torch.Generator().manual_seed(0))
    exact_se = math.sqrt(p * (1 - p) / K)
    assert abs(value.item() - p) < 4 * exact_se
    assert se.item() == pytest.approx(exact_se, rel=0.1)


def test_a_certain_finish_has_value_one_and_no_error():
    value, se = monte_carlo_values(Coin(1.0 - 1e-9), [PROBLEM], [encode("2+3=5;#")], 8, max_new_tokens=12)
    assert value.item() == 1.0 and se.item() == 0.0


def test_finished_prefixes_are_scored_not_continued(monkeypatch):
    monkeypatch.setattr(prefix_values, "generate", lambda *a, **k: pytest.fail("nothing should be sampled"))
    prefixes = [encode("2+3=5;#5") + [EOS_ID], encode("2+3=5;#6") + [EOS_ID], encode("2+3=5;#5;;;")]
    value, se = monte_carlo_values(Coin(0.5), [PROBLEM] * 3, prefixes, 4, max_new_tokens=11)
    assert value.tolist() == [1.0, 0.0, 0.0]  # the last used the whole budget of 11 tokens without an answer
    assert se.tolist() == [0.0, 0.0, 0.0]


def test_each_prefix_gets_the_budget_it_leaves(monkeypatch):
    budgets, original = [], prefix_values.generate

    def recording(model, prompt, valid, max_new_tokens, *args, **kwargs):
        budgets.append((prompt.shape[0], max_new_tokens))
        return original(model, prompt, valid, max_new_tokens, *args, **kwargs)

    monkeypatch.setattr(prefix_values, "generate", recording)
    prefixes = [[], encode("2+3=5;"), encode("2+3=5;#"), encode("2+3=")]
    value, _ = monte_carlo_values(Coin(0.5), [PROBLEM] * 4, prefixes, 3, max_new_tokens=12)
    assert budgets == [(3, 12), (3, 8), (3, 6), (3, 5)]  # one batch of K rows per prefix length t, budget 12 - t
    assert value[[0, 1, 3]].tolist() == [0.0, 0.0, 0.0]  # Coin writes ';' until the budget ends: no answer


def test_same_seed_same_values_and_values_are_means_of_rewards(tiny_model):
    problems = [parse_problem("1+2-3"), parse_problem("4+5")]
    prefixes = [encode("1+2=3;"), []]
    runs = [monte_carlo_values(tiny_model, problems, prefixes, 6, 12, generator=torch.Generator().manual_seed(3))
            for _ in range(2)]
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    value, se = runs[0]
    assert ((value * 6).round() == value * 6).all()  # a mean of six 0/1 rewards
    assert ((0 <= value) & (value <= 1)).all() and (se >= 0).all()


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="K >= 2"):
        monte_carlo_values(Coin(0.5), [PROBLEM], [[]], 1, 12)
    with pytest.raises(ValueError, match="one prefix per problem"):
        monte_carlo_values(Coin(0.5), [PROBLEM], [[], []], 4, 12)
    with pytest.raises(ValueError, match="longer than the generation budget"):
        monte_carlo_values(Coin(0.5), [PROBLEM], [encode("2+3=5;#5")], 4, 5)


def test_step_boundaries_are_the_states_after_each_step():
    # "1+2=3;3-3=0;#0" and its <eos>: 15 tokens; states before token 0, after each ';', after the <eos>
    assert step_boundaries("1+2=3;3-3=0;#0", 15) == [0, 6, 12, 15]
    assert step_boundaries("1+2=3;", 6) == [0, 6]  # truncated right after a ";": that state is the end
    assert step_boundaries("1+2=3;", 7) == [0, 7]  # one step, then <eos>: the <eos> belongs to that step
    assert step_boundaries("", 1) == [0, 1]  # just <eos>


def test_step_values_on_real_completions_end_with_the_reward(tiny_model):
    from minigrpo.lab.viz.step_values import step_values
    from minigrpo.ppo import ValueModel

    critic = ValueModel.from_policy(tiny_model)
    torch.nn.init.normal_(critic.head.weight, std=0.1)
    rows = step_values(tiny_model, [parse_problem("1+2-3"), parse_problem("4+5")], 3, K=4, critic=critic,
                       max_new_tokens=12, generator=torch.Generator().manual_seed(0))
    assert len(rows) == 6
    for row in rows:
        assert len(row.values) == len(row.errors) == len(row.critic) == len(row.boundaries) == len(row.step_right) + 1
        assert row.values[-1] == row.critic[-1] == row.reward and row.errors[-1] == 0.0  # the end is scored
        assert row.boundaries[0] == 0 and row.boundaries == sorted(set(row.boundaries))


def test_changes_at_step_compare_first_slips_and_right_steps_at_the_same_index():
    from minigrpo.lab.viz.step_values import StepValues, changes_at_step

    def row(values, right):
        return StepValues(PROBLEM, "", 0.0, list(range(len(values))), values, [0.0] * len(values), [], right)

    rows = [row([0.5, 0.6, 0.9, 1.0], [True, True, True]),   # all right
            row([0.5, 0.2, 0.1, 0.0], [False, True, True]),  # slips at step 0; later steps are left out
            row([0.4, 0.5, 0.1, 0.0], [True, False, False])]  # slips at step 1
    changes = changes_at_step(rows)
    assert changes[0]["right"] == pytest.approx([0.1, 0.1]) and changes[0]["first wrong"] == pytest.approx([-0.3])
    assert changes[1]["right"] == pytest.approx([0.3]) and changes[1]["first wrong"] == pytest.approx([-0.4])
    assert changes[2] == {"first wrong": [], "right": pytest.approx([0.1])}


def test_a_repeated_prefix_is_valued_once(monkeypatch):
    rows_sampled, original = [], prefix_values.generate

    def recording(model, prompt, *args, **kwargs):
        rows_sampled.append(prompt.shape[0])
        return original(model, prompt, *args, **kwargs)

    monkeypatch.setattr(prefix_values, "generate", recording)
    other = parse_problem("2+4")
    prefixes = [encode("2+3=5;#"), [], encode("2+3=5;#"), [], []]
    problems = [PROBLEM, PROBLEM, PROBLEM, PROBLEM, other]  # the same empty prefix of another prompt is another state
    value, se = monte_carlo_values(Coin(0.5), problems, prefixes, 6, max_new_tokens=12,
                                   generator=torch.Generator().manual_seed(0))
    assert sorted(rows_sampled) == [6, 12]  # three unique states, K = 6 continuations each: two of length 0
    assert value[0] == value[2] and value[1] == value[3] and se[0] == se[2]


def test_localization_is_the_critics_share_of_the_ideal_drop_at_a_first_slip():
    from minigrpo.lab.viz.step_values import StepValues, localization

    other = parse_problem("4+5")

    def row(problem, values, critic, right, reward):
        n = len(values)
        return StepValues(problem, "", reward, list(range(n)), values, [0.0] * n, critic, right)

    rows = [  # PROBLEM: two right answers, one slip at step 1; other: one right answer, one slip at step 0
        row(PROBLEM, [0.5, 0.6, 0.8, 1.0], [0.4, 0.5, 0.6, 1.0], [True, True, True], 1.0),
        row(PROBLEM, [0.5, 0.7, 0.9, 1.0], [0.4, 0.5, 0.8, 1.0], [True, True, True], 1.0),
        row(PROBLEM, [0.5, 0.6, 0.1, 0.0], [0.4, 0.5, 0.5, 0.0], [True, False, True], 0.0),
        row(other, [0.6, 0.7, 1.0], [0.5, 0.6, 1.0], [True, True], 1.0),
        row(other, [0.6, 0.0, 0.0], [0.5, 0.3, 0.0], [False, True], 0.0),
    ]
    out = localization(rows)
    # step 1 of PROBLEM: V_MC moves -0.5 at the slip, +0.2 (mean of 0.2, 0.2) on the right answers: a drop of -0.7;
    # the critic moves 0.0 there and +0.2 (mean of 0.1, 0.3) on them: -0.2, so 2/7 of the ideal drop
    assert out[1]["pairs"] == 1 and out[1]["mc"] == pytest.approx(-0.7) and out[1]["critic"] == pytest.approx(-0.2)
    assert out[1]["fraction"] == pytest.approx(2 / 7)
    # step 0 of the other problem: V_MC -0.6 against +0.1 (-0.7), the critic -0.2 against +0.1 (-0.3)
    assert out[0]["fraction"] == pytest.approx(3 / 7)
    assert 2 not in out  # no first slip at step 2
