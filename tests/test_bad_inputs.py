"""Bad input never costs a run: every public step refuses it first, with one clear message.

Each case names the error type and a fragment of its message. Shapes are checked before anything
can broadcast, non-finite numbers are refused (on real positions; padding may hold anything and
is selected away), scalars are range-checked, empty batches refused. Then properties: any string
through the reward functions scores in range and full credit only for the right ASCII answer;
finite rewards never give a NaN advantage; NaN in padding never changes a masked result.
"""

import math
import re
import string

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigrpo import checks
from minigrpo.checks import excerpt
from minigrpo.grpo import (
    Group,
    broadcast_to_tokens,
    clipped_surrogate,
    group_advantages,
    group_logprobs,
    grpo_objective,
    k1_penalized_rewards,
    kl_k2,
    kl_k3,
    kl_k3_ratio,
    normalize_step_rewards,
    probability_ratio,
    process_advantages,
    sample_group,
    score_outcomes,
    score_steps,
)
from minigrpo.lab.variants.credit import (
    flip_step_labels,
    mean_over_steps,
    monte_carlo_step_advantages,
    step_value_advantages,
)
from minigrpo.lab.variants.variants import clip_higher_surrogate, gdpo_advantages, rescaled_advantages, sequence_ratio
from minigrpo.masked import aggregate, completion_mean, token_mean, whiten
from minigrpo.ppo import clipped_value_loss, explained_variance, gae, kl_penalized_rewards
from minigrpo.rewards import StepScore, format_reward, length_penalty, outcome_reward, step_rewards
from minigrpo.task import MAX_DIGITS, Problem, parse_final_answer, parse_problem, split_segments
from minigrpo.tokenizer import EOS_ID, VOCAB_SIZE, decode, encode

B, G, T = 2, 3, 4
X = torch.full((B, G, T), -1.0)  # log-probs, ratios, advantages: any float [B, G, T]
MASK = torch.ones(B, G, T, dtype=torch.bool)
R = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 1.0]])  # rewards [B, G]
P = parse_problem("37+45-18")  # 37+45=82;82-18=64;#64


def nan_at(x, index=(0, 0, 0), value=math.nan):
    x = x.clone()
    x[index] = value
    return x


def hand_group(texts=(("#64", "#1", "37+45=82;82-18=64;#64"),), problems=(P,)):
    """A group of len(texts) prompts: only what step 2 reads (problems, texts, the mask's shape)."""
    mask = torch.ones(len(texts), len(texts[0]), 1, dtype=torch.bool)
    return Group(list(problems), mask, mask, mask.long(), mask, mask.float(), [list(t) for t in texts])


# (what, call, error type, fragment of the message). The call must fail before any arithmetic.
SHAPES_AND_TYPES = [
    ("integer rewards", lambda: group_advantages(torch.tensor([[1, 0, 1]])), TypeError, "floating-point"),
    ("rewards as a list", lambda: group_advantages([[1.0, 0.0]]), TypeError, "torch.Tensor"),
    ("rewards [G]", lambda: group_advantages(torch.rand(5)), ValueError, "[B, G]"),
    ("rewards [B, 1]", lambda: group_advantages(torch.rand(3, 1)), ValueError, "G >= 2"),
    ("adv [B] with a 1-d mask", lambda: broadcast_to_tokens(torch.rand(2), torch.ones(2, dtype=torch.bool)),
     ValueError, "[B, G]"),
    ("float mask", lambda: broadcast_to_tokens(R, MASK.float()[:, :, :2]), TypeError, "bool tensor"),
    ("old_logp [G, T]", lambda: probability_ratio(X, X[0]), ValueError, "must match"),
    ("integer logp", lambda: probability_ratio(X.long(), X.long()), TypeError, "floating-point"),
    ("adv [T]", lambda: clipped_surrogate(X, X[0, 0], 0.2), ValueError, "must match"),
    ("adv [B, G, 1]", lambda: clip_higher_surrogate(X, X[..., :1], 0.2, 0.28), ValueError, "must match"),
    ("ref_logp [G, T] in k3", lambda: kl_k3(X, X[0]), ValueError, "must match"),
    ("ref_logp [T] in k2", lambda: kl_k2(X, X[0, 0]), ValueError, "must match"),
    ("old_logp [G, T] in rho k3", lambda: kl_k3_ratio(X, X[0], X), ValueError, "must match"),
    ("k1 mask [G, T]", lambda: k1_penalized_rewards(R, X, X, MASK[0], 0.1), ValueError, "[B, G, T]"),
    ("k1 rewards [G]", lambda: k1_penalized_rewards(R[0], X, X, MASK, 0.1), ValueError,
     "rewards must have shape [B, G]"),
    ("kl [T] in the objective", lambda: grpo_objective(X, X[0, 0], MASK, 0.04), ValueError, "[B, G, T]"),
    ("mask [G, T] in dapo", lambda: aggregate(X, MASK[0], "dapo"), ValueError, "must match"),
    ("integer mask", lambda: grpo_objective(X, X, MASK.long(), 0.04), TypeError, "bool tensor"),
    ("old_logp [G, T] in GSPO", lambda: sequence_ratio(X, X[0], MASK), ValueError, "[B, G, T]"),
    ("logp and old_logp of another shape in GSPO", lambda: sequence_ratio(X[..., :2], X[..., :2], MASK),
     ValueError, "must match exactly"),
    ("integer rewards in RLOO", lambda: rescaled_advantages(R.long(), 1e-4, "leave_one_out", "group"),
     TypeError, "floating-point"),
    ("integer weights in GDPO", lambda: gdpo_advantages(torch.rand(2, 3, 2), torch.ones(2, dtype=torch.long)),
     TypeError, "floating-point"),
    ("step_mask of another shape", lambda: process_advantages(torch.rand(1, 2, 3), torch.zeros(1, 2, 3,
     dtype=torch.long), torch.ones(1, 2, 2, dtype=torch.bool), T=4), ValueError, "[B, G, S]"),
    ("float step_ends", lambda: process_advantages(torch.rand(1, 2, 2), torch.zeros(1, 2, 2),
     torch.ones(1, 2, 2, dtype=torch.bool), T=4), TypeError, "integer tensor"),
    ("float T", lambda: process_advantages(torch.rand(1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long),
     torch.ones(1, 2, 2, dtype=torch.bool), T=4.0), TypeError, "T must be an integer"),
    ("float step_mask", lambda: normalize_step_rewards(torch.rand(1, 2, 2), torch.ones(1, 2, 2)), TypeError,
     "bool tensor"),
    ("mask of another shape in completion_mean", lambda: completion_mean(X, MASK[0]), ValueError, "must match"),
    ("float mask in token_mean", lambda: token_mean(X, MASK.float()), TypeError, "bool tensor"),
    ("mask of another shape in whiten", lambda: whiten(X, MASK[..., :1]), ValueError, "must match"),
    ("values [T] in gae", lambda: gae(X, X[0, 0], MASK, 1.0, 0.95), ValueError, "must match"),
    ("old_values [G, T] in the value loss", lambda: clipped_value_loss(X, X[0], X, MASK, 0.2), ValueError,
     "values (2, 3, 4) and old_values (3, 4) must match"),
    ("values [B, G, 1] in the value loss", lambda: clipped_value_loss(X[..., :1], X[..., :1], X, MASK, 0.2),
     ValueError, "must match"),
    ("returns [T] in explained_variance", lambda: explained_variance(X, X[0, 0], MASK), ValueError, "must match"),
    ("ref_logp [G, T] in PPO's reward", lambda: kl_penalized_rewards(R, X, X[0], MASK, 0.1), ValueError, "[B, G, T]"),
    ("ref_logp [B, G, 1] in PPO's reward", lambda: kl_penalized_rewards(R, X, X[..., :1], MASK, 0.1), ValueError,
     "and ref_logp (2, 3, 1) must match"),
    ("no ref_logp for PPO's KL penalty", lambda: kl_penalized_rewards(R, X, None, MASK, 0.1), TypeError,
     "ref_logp must be a torch.Tensor"),
    ("rewards of another [B, G] than the mask", lambda: kl_penalized_rewards(R[:1], X, X, MASK, 0.1), ValueError,
     "rewards (1, 3) and old_logp (2, 3, 4) must match (rewards is [B, G], old_logp is [B, G, T])"),
    ("step_ends past T", lambda: process_advantages(torch.rand(1, 2, 2), torch.full((1, 2, 2), 4),
     torch.ones(1, 2, 2, dtype=torch.bool), T=4), ValueError, "step_ends must lie in [0, 4)"),
    ("a model that is not a module", lambda: group_logprobs(lambda x: x, hand_group()), TypeError,
     "model must be a Module"),
    ("step_mask [G, S] in mean_over_steps", lambda: mean_over_steps(X, MASK[0]), ValueError, "[B, G, S]"),
    ("step_mask of another [B, G]", lambda: mean_over_steps(X, MASK[:1]), ValueError, "must match in [B, G]"),
    ("step_mask of another shape in flip", lambda: flip_step_labels(X.abs(), MASK[..., :1], 0.1), ValueError,
     "must match"),
]

NON_FINITE = [
    ("NaN reward", lambda: group_advantages(nan_at(R, (0, 1))), ValueError, "rewards contains NaN or inf"),
    ("inf reward", lambda: group_advantages(nan_at(R, (1, 0), math.inf)), ValueError, "rewards contains NaN or inf"),
    ("NaN reward in RLOO", lambda: rescaled_advantages(nan_at(R, (0, 1)), 1e-4, "mean", "batch"), ValueError,
     "rewards contains NaN"),
    ("NaN reward component in GDPO", lambda: gdpo_advantages(nan_at(torch.rand(2, 3, 2)), torch.ones(2)),
     ValueError, "rewards contains NaN"),
    ("NaN weight in GDPO", lambda: gdpo_advantages(torch.rand(2, 3, 2), torch.tensor([1.0, math.nan])),
     ValueError, "weights contains NaN"),
    ("NaN advantage", lambda: broadcast_to_tokens(nan_at(R, (0, 0)), MASK), ValueError, "adv contains NaN"),
    ("NaN real step reward", lambda: normalize_step_rewards(nan_at(torch.rand(1, 2, 2)),
     torch.ones(1, 2, 2, dtype=torch.bool)), ValueError, "step_rewards contains NaN or inf on a real"),
    ("NaN logp", lambda: probability_ratio(nan_at(X), X), ValueError, "logp contains NaN"),
    ("-inf old_logp", lambda: probability_ratio(X, nan_at(X, value=-math.inf)), ValueError, "old_logp contains"),
    ("inf ratio", lambda: clipped_surrogate(nan_at(X, value=math.inf), X, 0.2), ValueError, "ratio contains"),
    ("NaN adv", lambda: clipped_surrogate(X.exp(), nan_at(X), 0.2), ValueError, "adv contains"),
    ("-inf ref_logp in k3", lambda: kl_k3(X, nan_at(X, value=-math.inf)), ValueError, "ref_logp contains"),
    ("NaN logp in rho k3", lambda: kl_k3_ratio(nan_at(X), X, X), ValueError, "logp contains"),
    ("NaN real old_logp in k1", lambda: k1_penalized_rewards(R, nan_at(X), X, MASK, 0.1), ValueError, "on a real"),
    ("NaN reward in k1", lambda: k1_penalized_rewards(nan_at(R, (0, 0)), X, X, MASK, 0.1), ValueError,
     "rewards contains"),
    ("NaN real surrogate", lambda: grpo_objective(nan_at(X), X, MASK, 0.04), ValueError, "surrogate contains"),
    ("inf real KL", lambda: grpo_objective(X, nan_at(X, value=math.inf), MASK, 0.04), ValueError, "kl contains"),
    ("NaN real logp in GSPO", lambda: sequence_ratio(nan_at(X), X, MASK), ValueError, "logp contains"),
    ("NaN real value in whiten", lambda: whiten(nan_at(X), MASK), ValueError, "on a real"),
    ("NaN real reward in gae", lambda: gae(nan_at(X), X, MASK, 1.0, 0.95), ValueError, "rewards contains"),
    ("inf real value in gae", lambda: gae(X, nan_at(X, value=math.inf), MASK, 1.0, 0.95), ValueError,
     "values contains"),
    ("NaN real return", lambda: clipped_value_loss(X, X, nan_at(X), MASK, 0.2), ValueError, "returns contains"),
    ("NaN reward in PPO's reward", lambda: kl_penalized_rewards(nan_at(R, (0, 0)), X, X, MASK, 0.1), ValueError,
     "rewards contains"),
    ("NaN real ref_logp in PPO's reward", lambda: kl_penalized_rewards(R, X, nan_at(X), MASK, 0.1), ValueError,
     "ref_logp contains"),
    ("NaN state value", lambda: step_value_advantages([0, 3], [0.5, math.nan], 4), ValueError, "must be finite"),
]

SCALARS = [
    ("eps = nan", lambda: group_advantages(R, eps=math.nan), ValueError, "eps must be finite"),
    ("eps < 0", lambda: group_advantages(R, eps=-1e-4), ValueError, "eps must be >= 0"),
    ("eps a string", lambda: group_advantages(R, eps="1e-4"), TypeError, "eps must be a real number"),
    ("eps = inf in process", lambda: normalize_step_rewards(torch.rand(1, 2, 2), torch.ones(1, 2, 2,
     dtype=torch.bool), eps=math.inf), ValueError, "eps must be finite"),
    ("eps = nan in RLOO", lambda: rescaled_advantages(R, math.nan, "mean", "group"), ValueError, "eps must be"),
    ("eps < 0 in whiten", lambda: whiten(X, MASK, eps=-1.0), ValueError, "eps must be >= 0"),
    ("clip_eps < 0", lambda: clipped_surrogate(X, X, -0.1), ValueError, "clip_eps must be >= 0"),
    ("clip_eps = nan", lambda: clipped_surrogate(X, X, math.nan), ValueError, "clip_eps must be finite"),
    ("clip_eps None", lambda: clipped_surrogate(X, X, None), TypeError, "clip_eps must be a real number"),
    ("clip_eps_high < 0", lambda: clip_higher_surrogate(X, X, 0.2, -0.1), ValueError, "clip_eps_high must be >= 0"),
    ("clip_eps_high = inf", lambda: clip_higher_surrogate(X, X, 0.2, math.inf), ValueError, "clip_eps_high must be"),
    ("kl_coef = nan", lambda: grpo_objective(X, X, MASK, math.nan), ValueError, "kl_coef must be finite"),
    ("kl_coef < 0", lambda: grpo_objective(X, X, MASK, -0.04), ValueError, "kl_coef must be >= 0"),
    ("kl_coef = nan in k1", lambda: k1_penalized_rewards(R, X, X, MASK, math.nan), ValueError, "kl_coef"),
    ("kl_coef < 0 in PPO's reward", lambda: kl_penalized_rewards(R, X, X, MASK, -0.1), ValueError, "kl_coef"),
    ("gamma > 1", lambda: gae(X, X, MASK, 1.5, 0.95), ValueError, "gamma must be <= 1"),
    ("lam = nan", lambda: gae(X, X, MASK, 1.0, math.nan), ValueError, "lam must be finite"),
    ("value clip_eps < 0", lambda: clipped_value_loss(X, X, X, MASK, -0.2), ValueError, "clip_eps must be >= 0"),
    ("flip probability > 1", lambda: flip_step_labels(X.abs(), MASK, 1.5), ValueError, "p must be <= 1"),
    ("T = 0", lambda: process_advantages(torch.rand(1, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long),
     torch.ones(1, 2, 2, dtype=torch.bool), T=0), ValueError, "T must be >= 1"),
    ("T = 0 for step values", lambda: step_value_advantages([0], [0.5], 0), ValueError, "T must be >= 1"),
]

EMPTY = [
    ("no groups", lambda: group_advantages(torch.zeros(0, 4)), ValueError, "empty"),
    ("no completions in the objective", lambda: grpo_objective(X[:0], X[:0], MASK[:0], 0.04), ValueError, "empty"),
    ("no tokens in a ratio", lambda: probability_ratio(X[..., :0], X[..., :0]), ValueError, "empty"),
    ("no steps", lambda: process_advantages(torch.zeros(1, 2, 0), torch.zeros(1, 2, 0, dtype=torch.long),
     torch.ones(1, 2, 0, dtype=torch.bool), T=4), ValueError, "empty"),
    ("no real tokens to whiten", lambda: whiten(X, torch.zeros_like(MASK)), ValueError, "at least two real tokens"),
    ("no states", lambda: step_value_advantages([], [], 4), ValueError, "one value per state"),
    ("no completions in gae", lambda: gae(X[:0], X[:0], MASK[:0], 1.0, 0.95), ValueError, "empty"),
    ("an empty group to score", lambda: score_outcomes(outcome_reward, hand_group(texts=((),), problems=(P,))),
     ValueError, "group.mask is empty"),
]


def rows(table):
    return pytest.mark.parametrize("call, error, fragment", [row[1:] for row in table], ids=[row[0] for row in table])


def refused(call, error, pattern) -> str:
    """call() raises ``error`` whose message matches ``pattern``, on one short line; the message."""
    with pytest.raises(error, match=pattern) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and len(message) < 250, message
    return message


@rows(SHAPES_AND_TYPES)
def test_wrong_shapes_and_types_are_refused_before_broadcasting(call, error, fragment):
    refused(call, error, re.escape(fragment))


@rows(NON_FINITE)
def test_nan_and_inf_are_refused(call, error, fragment):
    refused(call, error, fragment)


@rows(SCALARS)
def test_scalars_out_of_range_are_refused(call, error, fragment):
    refused(call, error, fragment)


@rows(EMPTY)
def test_empty_input_is_refused(call, error, fragment):
    refused(call, error, fragment)


def test_gae_needs_the_mask_to_be_a_prefix():
    holes = MASK.clone()
    holes[0, 0, 1] = False  # a real token after padding: next_values would read the wrong token
    with pytest.raises(ValueError, match="prefix"):
        gae(X, X, holes, 1.0, 0.95)


# Step 1: sampling refuses a bad request before it reaches torch.

@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"problems": []}, ValueError, "problems is empty"),
    ({"problems": ["1+2"]}, TypeError, "problems must be a list of Problem"),
    ({"problems": P}, TypeError, "problems must be a list of Problem"),
    ({"group_size": 0}, ValueError, "group_size must be >= 1"),
    ({"group_size": 2.0}, TypeError, "group_size must be an integer"),
    ({"max_new_tokens": 0}, ValueError, "max_new_tokens must be >= 1"),
    ({"temperature": 0.0}, ValueError, "temperature must be > 0"),
    ({"temperature": -1.0}, ValueError, "temperature must be > 0"),
    ({"temperature": math.nan}, ValueError, "temperature must be finite"),
    ({"temperature": math.inf}, ValueError, "temperature must be finite"),
], ids=lambda x: repr(x) if isinstance(x, dict) else None)
def test_sample_group_refuses_a_bad_request(tiny_model, kwargs, error, fragment):
    args = {"policy": tiny_model, "problems": [P], "group_size": 2, "max_new_tokens": 4, **kwargs}
    with pytest.raises(error, match=fragment):
        sample_group(**args)


def test_sampling_needs_a_model_and_logprobs_need_a_group(tiny_model):
    with pytest.raises(TypeError, match="policy must be a Module"):
        sample_group(lambda x: x, [P], 2, 4)
    with pytest.raises(TypeError, match="group must be a Group"):
        group_logprobs(tiny_model, {"mask": MASK})
    with pytest.raises(ValueError, match="temperature must be > 0"):
        group_logprobs(tiny_model, hand_group(), temperature=0.0)


def test_monte_carlo_step_advantages_refuse_bad_arguments(tiny_model):
    group = hand_group()
    rewards = torch.tensor([[1.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="K must be >= 1"):
        monte_carlo_step_advantages(tiny_model, group, rewards, 0, 8, 1.0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        monte_carlo_step_advantages(tiny_model, group, rewards, 4, 8, 0.0)
    with pytest.raises(ValueError, match=r"must be \[B, G\] of the group"):
        monte_carlo_step_advantages(tiny_model, group, rewards[:, :2], 4, 8, 1.0)
    with pytest.raises(ValueError, match="rewards contains NaN"):
        monte_carlo_step_advantages(tiny_model, group, nan_at(rewards, (0, 0)), 4, 8, 1.0)


# Step 2: what a reward or step function returns is checked, and the error names the function.

def returns_none(problem, completion):
    return None


def returns_a_batch(problem, completion):
    return [1.0, 0.0, 1.0]


def returns_nan(problem, completion):
    return math.nan


@pytest.mark.parametrize("fn, fragment", [
    (returns_none, "returns_none returned None for '#64'; expected one finite number"),
    (returns_a_batch, "returns_a_batch returned a list of length 3"),
    (returns_nan, r"returns_nan returned a non-finite reward \(nan\)"),
    (lambda p, c: "1.0", "returned '1.0'"),
    (lambda p, c: torch.ones(2), "expected one finite number"),
    (step_rewards, "step_rewards returned a list of length"),  # a step function where an outcome one belongs
])
def test_a_reward_function_must_return_one_finite_number(fn, fragment):
    with pytest.raises(ValueError, match=fragment):
        score_outcomes(fn, hand_group())


def test_a_reward_function_may_return_numpy_or_tensor_scalars_and_bools():
    group = hand_group()
    for fn in (lambda p, c: np.float64(0.5), lambda p, c: torch.tensor(0.5), lambda p, c: np.int64(1) / 2):
        assert score_outcomes(fn, group).tolist() == [[0.5, 0.5, 0.5]]
    assert score_outcomes(lambda p, c: c == "#64", group).tolist() == [[1.0, 0.0, 0.0]]


@pytest.mark.parametrize("fn, fragment", [
    (outcome_reward, "outcome_reward returned 1.0 for '#64'; expected a list of StepScore"),
    (returns_none, "returns_none returned None"),
    (lambda p, c: [(1.0, len(c) - 1)], "expected a list of StepScore"),
    (lambda p, c: [StepScore(None, len(c) - 1)], "returned None"),
    (lambda p, c: [StepScore(math.inf, len(c) - 1)], "non-finite"),
])
def test_a_step_function_must_return_step_scores(fn, fragment):
    with pytest.raises(ValueError, match=fragment):
        score_steps(fn, hand_group())


def test_scoring_needs_a_function_and_a_consistent_group():
    with pytest.raises(TypeError, match="reward_fn must be callable"):
        score_outcomes(1.0, hand_group())
    with pytest.raises(TypeError, match="step_fn must be callable"):
        score_steps(None, hand_group())
    with pytest.raises(TypeError, match="group must be a Group"):
        score_outcomes(outcome_reward, [["#64"]])
    with pytest.raises(ValueError, match=r"group.mask \(1, 3, 4\) and group.texts \(1, 2\) must match"):
        score_outcomes(outcome_reward, Group([P], MASK[:1], MASK[:1], MASK[:1], MASK[:1], X[:1], [["#64", "#1"]]))


def test_a_group_is_checked_where_it_is_made():
    holes = MASK[:1].clone()
    holes[0, 0, 1] = False  # a real token after padding: step 2 counts a completion's tokens as its length
    refused(lambda: Group([P], MASK[:1], MASK[:1], MASK[:1], holes, X[:1], [["#64", "#1", "#2"]]), ValueError,
            "group.mask must be True on a prefix of each row")
    refused(lambda: Group([P, P], MASK[:1], MASK[:1], MASK[:1], MASK[:1], X[:1], [["#64", "#1", "#2"]]), ValueError,
            re.escape("group.mask (1, 3, 4) and group.problems (2,) must match"))
    refused(lambda: Group([P], MASK[:1], MASK[:1], MASK[:1], MASK[:1], nan_at(X[:1]), [["#64", "#1", "#2"]]),
            ValueError, "group.old_logp contains NaN or inf on a real")
    padded = MASK[:1].clone()
    padded[0, 0, 1:] = False  # padding may hold anything
    assert Group([P], MASK[:1], MASK[:1], MASK[:1], padded, torch.where(padded, X[:1], math.nan),
                 [["#64", "#1", "#2"]]).old_logp.isnan().any()


def test_a_spec_reads_like_the_docstring_and_an_unreadable_one_is_an_error():
    args = {"x": X, "mask": MASK, "rewards": R, "n": 3, "beta": None}
    checks.inputs(args, x="float [B, G, T]", mask="bool [B, G, T] prefix", rewards="float [B, G >= 3]",
                  n="int in [1, 4]", beta="> 0 or None")  # all of them right: no error
    refused(lambda: checks.inputs(args, x="float [B, G >= 4, T]"), ValueError,
            re.escape("x must have shape [B, G, T] with G >= 4, got (2, 3, 4)"))
    refused(lambda: checks.inputs(args, x="float [..., T]", rewards="float [..., T]"), ValueError,
            re.escape("x (2, 3, 4) and rewards (2, 3) must match ([..., T] each)"))
    refused(lambda: checks.inputs(args, n="int > 3"), ValueError, "n must be > 3, got 3")
    refused(lambda: checks.inputs(args, x="float [..., T] >= 0"), ValueError, re.escape("x must be >= 0, got -1.0 at"))
    refused(lambda: checks.inputs(args, beta="> 0"), TypeError, "beta must be a real number, got None")
    refused(lambda: checks.inputs(args, x="float [B, G, T] finite"), ValueError, "cannot read the spec")
    assert kl_penalized_rewards(R, X, None, MASK, 0.0).shape == X.shape  # no pi_ref needed when beta = 0


# Messages quote at most a short excerpt of what they refuse: a huge input is not printed back whole.

HUGE = "0" * 999_999 + "a"  # the bad character at the very end


@pytest.mark.parametrize("call, error, fragment", [
    (lambda: encode(HUGE), ValueError, "character 'a' at position 999999 of ...'0000"),
    (lambda: parse_problem("1+" * 500_000 + "x"), ValueError, "not a problem: '1+1+"),
    (lambda: score_outcomes(returns_none, hand_group(texts=((HUGE, "#1"),))), ValueError,
     "returns_none returned None for '0000"),
    (lambda: score_steps(lambda p, c: [StepScore(1.0, 0)], hand_group(texts=((HUGE, "#1"),))), ValueError,
     "must return steps whose ends increase"),
    (lambda: clipped_surrogate(X, X, torch.rand(100, 100)), TypeError, "clip_eps must be a real number, got tensor("),
    (lambda: sample_group(torch.nn.Linear(1, 1), [P] * 10_000 + ["1+2"], 2, 4), TypeError,
     "problems must be a list of Problem, got [Problem("),
    (lambda: decode(list(range(EOS_ID)) * 50_000 + [VOCAB_SIZE]), ValueError, "ids[900000] = 20 is not a token id"),
])
def test_a_message_quotes_only_an_excerpt_of_a_huge_input(call, error, fragment):
    assert len(refused(call, error, re.escape(fragment))) < 250  # not the million characters of the input


def test_the_excerpt_of_a_long_str_shows_where_it_goes_wrong_and_how_long_it_is():
    message = refused(lambda: encode(HUGE), ValueError, "character 'a' at position 999999")
    assert len(message) < 200 and "0a'" in message and "(1000000 characters)" in message
    assert excerpt("#64") == "'#64'" and excerpt("x" * 100, at=50) == "..." + repr("x" * 60) + "... (100 characters)"


# The reward functions: a public API for outside text. Non-str input is a TypeError; any str scores in range.

@pytest.mark.parametrize("fn", [outcome_reward, format_reward, length_penalty, step_rewards])
def test_reward_functions_refuse_what_is_not_text(fn):
    for completion in (None, b"#64", ["#64"], 64):
        with pytest.raises(TypeError, match="completion must be a str"):
            fn(P, completion)
    with pytest.raises(TypeError, match="problem must be a task.Problem"):
        fn("37+45-18", "#64")


FOREIGN_DIGITS = ["٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "０１２３４５６７８９", "०१२३४५६७८९", "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗"]


@pytest.mark.parametrize("digits", FOREIGN_DIGITS)
def test_non_ascii_digits_get_no_credit(digits):
    foreign = P.solution.translate(str.maketrans("0123456789", digits))  # 37+45=82;... in another script
    assert int(foreign.rpartition("#")[2]) == P.answer  # what \d and int() would have credited
    assert outcome_reward(P, foreign) == format_reward(P, foreign) == 0.0
    assert [s.reward for s in step_rewards(P, foreign)] == [0.0, 0.0, 0.0]
    negative = parse_problem("2-9")  # answer -7
    assert outcome_reward(negative, "#-" + digits[7]) == 0.0 and outcome_reward(negative, "#-7") == 1.0
    with pytest.raises(ValueError, match="not a problem"):
        parse_problem(digits[3] + "+" + digits[4])


def test_a_number_longer_than_max_digits_is_wrong_not_an_error():
    huge = "9" * 5000  # past int()'s 4300-digit limit
    for answer in ("#" + huge, "#-" + huge, "#" + "0" * (MAX_DIGITS + 1) + "64"):
        assert parse_final_answer(answer) is None and outcome_reward(P, answer) == 0.0
    for text in (f"{huge}+45=82;82-18=64;#64", f"37+45=82;82-{huge}=64;#64", f"37+45=82;82-18={huge};#64"):
        assert outcome_reward(P, text) == 1.0 and format_reward(P, text) == 0.0  # the answer alone is right
        rewards = {segment: s.reward for (segment, _), s in zip(split_segments(text), step_rewards(P, text))}
        assert [r for segment, r in rewards.items() if huge in segment] == [0.0]  # the step with it scores 0
        assert length_penalty(P, text) == -1.0
    assert parse_final_answer("#" + "0" * (MAX_DIGITS - 2) + "64") == 64  # MAX_DIGITS digits: still a number
    with pytest.raises(ValueError, match="not a problem"):
        parse_problem(huge + "+1")


def test_max_digits_covers_the_largest_problem_the_config_allows():
    largest = Problem((9999,) * 8, ("*",) * 7)  # TaskConfig: at most 8 operands of 4 digits
    assert len(str(largest.answer)) <= MAX_DIGITS
    assert outcome_reward(largest, largest.solution) == format_reward(largest, largest.solution) == 1.0
    assert all(s.reward == 1.0 for s in step_rewards(largest, largest.solution))


def expected_outcome(problem: Problem, completion: str) -> float:
    """The outcome reward written out without a regex: the last ';'-segment is '#', an optional '-',
    and 1 to MAX_DIGITS ASCII digits whose value is the answer."""
    last = completion.split(";")[-1]
    body = last[1:]
    digits = body[1:] if body.startswith("-") else body
    ok = last.startswith("#") and 1 <= len(digits) <= MAX_DIGITS and all(c in string.digits for c in digits)
    return float(ok and int(body) == problem.answer)


PROBLEMS = st.builds(
    lambda operands, operators: Problem(tuple(operands), tuple(operators[: len(operands) - 1])),
    st.lists(st.integers(0, 9999), min_size=2, max_size=4), st.lists(st.sampled_from("+-*"), min_size=3, max_size=3),
)
TASK_TEXT = "0123456789+-*=;#" + "".join(FOREIGN_DIGITS) + " ?\n"


@st.composite
def completions(draw, problem):
    """Arbitrary text, text made of the task's characters and foreign digits, or the solution with its digits
    swapped into another script, cut short or padded with zeros."""
    solution = problem.solution
    return draw(st.one_of(
        st.text(max_size=40),
        st.text(alphabet=TASK_TEXT, max_size=40),
        st.sampled_from(["0123456789"] + FOREIGN_DIGITS).map(lambda d: solution.translate(str.maketrans("0123456789",
                                                                                                       d))),
        st.integers(0, len(solution)).map(lambda n: solution[:n]),
        st.integers(0, 30).map(lambda n: solution.replace("#", "#" + "0" * n)),
    ))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), problem=PROBLEMS)
def test_any_string_scores_in_range_and_full_credit_only_for_the_right_ascii_answer(data, problem):
    text = data.draw(completions(problem))
    assert outcome_reward(problem, text) == expected_outcome(problem, text)
    assert format_reward(problem, text) in (0.0, 1.0)
    assert -1.0 <= length_penalty(problem, text) <= 0.0
    scores = step_rewards(problem, text)
    assert all(s.reward in (0.0, 1.0) for s in scores)
    assert [s.end for s in scores] == [end for _, end in split_segments(text)]
    if any(c not in "0123456789+-*=;#" for c in text):  # a foreign character anywhere: never a well-formed answer
        assert format_reward(problem, text) == 0.0


# Advantages: finite rewards never give NaN, and a group with no spread gets exactly 0.

@st.composite
def reward_tensors(draw):
    """[B, G] float64 rewards, finite; some groups all equal, some not."""
    B, G = draw(st.integers(1, 4)), draw(st.integers(2, 6))
    value = st.floats(-1e6, 1e6, allow_nan=False, width=32)
    groups = [draw(st.one_of(st.lists(value, min_size=G, max_size=G), value.map(lambda v: [v] * G)))
              for _ in range(B)]
    return torch.tensor(groups, dtype=torch.float64)


def numpy_group_advantages(rewards: np.ndarray, eps: float) -> np.ndarray:
    mean, std = rewards.mean(1, keepdims=True), rewards.std(1, ddof=1, keepdims=True)
    equal = rewards.max(1, keepdims=True) == rewards.min(1, keepdims=True)
    return np.where(equal, 0.0, (rewards - mean) / (std + eps))


@settings(max_examples=200, deadline=None)
@given(rewards=reward_tensors(), eps=st.sampled_from([1e-4, 1e-8, 1.0]))
def test_finite_rewards_never_give_nan_and_equal_groups_give_exactly_zero(rewards, eps):
    adv = group_advantages(rewards, eps)
    assert torch.isfinite(adv).all()
    equal = rewards.amax(1) == rewards.amin(1)
    assert (adv[equal] == 0).all()
    np.testing.assert_allclose(adv.numpy(), numpy_group_advantages(rewards.numpy(), eps), rtol=1e-9, atol=1e-9)
    for scale in ("group", "batch", "none"):
        rescaled = rescaled_advantages(rewards, eps, "leave_one_out", scale)
        assert torch.isfinite(rescaled).all() and (rescaled[equal] == 0).all()


# Padding may hold anything: NaN or inf there never changes a masked result, nor its gradient.

GARBAGE = st.sampled_from([math.nan, math.inf, -math.inf, 1e30])


@st.composite
def padded_batches(draw):
    """(x [B, G, T] float64 with 0 on padding, mask [B, G, T] a prefix of each row, at least two real tokens)."""
    B, G, T = draw(st.integers(1, 3)), draw(st.integers(2, 4)), draw(st.integers(1, 6))
    lengths = torch.tensor(draw(st.lists(st.lists(st.integers(1, T), min_size=G, max_size=G), min_size=B,
                                         max_size=B)))
    mask = torch.arange(T) < lengths[..., None]
    x = torch.tensor(np.random.default_rng(draw(st.integers(0, 2**32 - 1))).normal(size=(B, G, T)))
    return torch.where(mask, x, 0.0), mask


def with_garbage(x, mask, garbage):
    return torch.where(mask, x, garbage)


def masked_results(x, mask):
    """Every masked computation of the package, as a tuple of tensors; x enters with requires_grad."""
    x = x.clone().requires_grad_()
    out = (completion_mean(x, mask), token_mean(x, mask), whiten(x, mask), whiten(x, mask, center=False),
           grpo_objective(x, x, mask, 0.04), aggregate(x - 0.04 * x, mask, "dapo"),
           aggregate(x - 0.04 * x, mask, "dr_grpo", x.shape[-1]), *gae(x, x, mask, 0.9, 0.95),
           clipped_value_loss(x, x.detach() * 0.5, x.detach(), mask, 0.2))
    (grad,) = torch.autograd.grad(sum(o.sum() for o in out), x)
    return (*(o.detach() for o in out), torch.where(mask, grad, 0.0), (grad[~mask] == 0).all()[None])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=padded_batches(), garbage=GARBAGE)
def test_garbage_in_padding_never_changes_a_masked_result_or_gradient(batch, garbage):
    x, mask = batch
    clean, dirty = masked_results(x, mask), masked_results(with_garbage(x, mask, garbage), mask)
    for a, b in zip(clean, dirty):
        assert torch.equal(a, b)
    assert dirty[-1].all()  # and padding gets exactly 0 gradient


@settings(max_examples=100, deadline=None)
@given(batch=padded_batches(), garbage=GARBAGE, seed=st.integers(0, 2**32 - 1))
def test_garbage_in_padding_steps_and_tokens_never_changes_step_3_or_the_rewards(batch, garbage, seed):
    x, mask = batch  # read as step rewards [B, G, S] with step_mask, and as log-probs [B, G, T] with mask
    rng = np.random.default_rng(seed)
    T = 8
    ends = torch.tensor(np.sort(rng.integers(0, T, size=mask.shape), -1))
    step_r = torch.where(mask, torch.tensor(rng.integers(0, 2, size=mask.shape), dtype=torch.float64), 0.0)
    rewards = x[..., 0]
    if (mask.sum((1, 2)) >= 2).all():
        clean = process_advantages(step_r, ends, mask, T)
        assert torch.equal(process_advantages(with_garbage(step_r, mask, garbage), ends, mask, T), clean)
        assert torch.isfinite(clean).all()
    for fn in (lambda lp: k1_penalized_rewards(rewards, lp, x, mask, 0.1),
               lambda lp: kl_penalized_rewards(rewards, lp, x, mask, 0.1),
               lambda lp: sequence_ratio(x, lp, mask)):
        assert torch.equal(fn(with_garbage(x * 0.5, mask, garbage)), fn(x * 0.5))
