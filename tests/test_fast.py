"""The fast path (minigrpo/lab/scale/fast.py, ``--fast``) computes the default path's numbers: the same tokens from
the same random numbers, the same log-probs, entropies and gradients (to float rounding), and a run of the lab's loop
ends where the default run ends. In float64 the two paths agree to 1e-10; in float32 to the rounding of a few
thousand sums."""

import copy
import itertools
import random

import pytest
import torch

from minigrpo.checkpoint import load_checkpoint
from minigrpo.config import GRPOConfig, PPOConfig
from minigrpo.grpo import step1_sampling
from minigrpo.lab import scale
from minigrpo.lab.config import LabGRPOConfig, LabPPOConfig
from minigrpo.lab.loop import train
from minigrpo.lab.scale.fast import generate_groups, group_token_logprobs, length_buckets, scored_lengths
from minigrpo.lab.scale.sampling import PerPromptSampler
from minigrpo.model import generate, token_logprobs
from minigrpo.task import DATA_DIR, load_split
from minigrpo.tokenizer import EOS_ID, PAD_ID, encode_prompts


@pytest.fixture(scope="module")
def warm_start():
    """The shipped warm start and 12 training prompts: real completions, which finish at different lengths."""
    policy, _ = load_checkpoint(DATA_DIR / "warmstart.pt")
    return policy, random.Random(0).sample(load_split("train", DATA_DIR), 12)


def both_paths(policy, problems, G, temperature, seed, sampler=None):
    """The group that step 1 samples, and the one the fast path samples, from the same seed."""
    groups = []
    for path in (step1_sampling, scale.fast):
        use = sampler(problems, G) if sampler else None
        groups.append(path.sample_group(policy, problems, G, 32, temperature, torch.Generator().manual_seed(seed),
                                        use))
    return groups


@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("per_prompt", [False, True])
def test_fast_sampling_draws_the_default_paths_tokens_with_its_logprobs(warm_start, temperature, per_prompt):
    policy, problems = warm_start
    sampler = (lambda ps, G: PerPromptSampler(5, 1, list(range(len(ps))), G)) if per_prompt else None
    default, fast = both_paths(policy, problems, 8, temperature, seed=4, sampler=sampler)
    lengths = default.mask.sum(-1)
    assert lengths.min() < lengths.max()  # rows finished at different steps, so the fast path dropped some
    assert torch.equal(fast.completions, default.completions)
    assert torch.equal(fast.mask, default.mask)
    assert torch.equal(fast.prompt, default.prompt) and torch.equal(fast.prompt_valid, default.prompt_valid)
    assert fast.texts == default.texts
    torch.testing.assert_close(fast.old_logp, default.old_logp, rtol=0, atol=2e-5)
    torch.testing.assert_close(fast.entropy, default.entropy, rtol=0, atol=2e-5)


def test_in_float64_fast_generation_equals_generate_to_1e_10(tiny_model):
    prompt, valid = encode_prompts(["1+2=", "7-3+5=", "9="])
    G = 3
    default = generate(tiny_model, prompt.repeat_interleave(G, 0), valid.repeat_interleave(G, 0), 12, EOS_ID, PAD_ID,
                       temperature=0.8, generator=torch.Generator().manual_seed(2), return_entropy=True)
    fast = generate_groups(tiny_model, prompt, valid, G, 12, EOS_ID, PAD_ID, 0.8, torch.Generator().manual_seed(2))
    assert torch.equal(fast[0], default[0]) and torch.equal(fast[1], default[1])
    for a, b in zip(fast[2:], default[2:]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_fast_generation_drops_finished_rows_yet_keeps_their_padding(tiny_model):
    """An <eos> drawn at the first step ends that row: <pad> after it, mask False, log-prob and entropy 0."""
    prompt, valid = encode_prompts(["1+2=", "3+4="])
    eos_first = lambda probs: torch.where(torch.arange(len(probs)) % 2 == 0, EOS_ID, 5)  # noqa: E731
    tokens, mask, logp, entropy = generate_groups(tiny_model, prompt, valid, 2, 6, EOS_ID, PAD_ID, sampler=eos_first)
    assert tokens.shape == (4, 6)
    assert (tokens[0::2, 0] == EOS_ID).all() and (tokens[0::2, 1:] == PAD_ID).all()
    assert (mask[0::2, 1:] == 0).all() and (logp[0::2, 1:] == 0).all() and (entropy[0::2, 1:] == 0).all()
    assert (tokens[1::2] == 5).all() and mask[1::2].all()


@pytest.mark.parametrize("T", [1, 9])
@pytest.mark.parametrize("bucketed", [False, True])
def test_in_float64_fast_logprobs_and_their_gradients_equal_the_default_paths(tiny_model, T, bucketed):
    """Bucketed: each completion scored up to its own length (random, 1 to T); the positions after it are masked
    on both paths, as group_logprobs masks them."""
    prompt, valid = encode_prompts(["1+2=", "7-3+5=", "9="])
    G = 4
    completion = torch.randint(0, tiny_model.cfg.vocab_size, (3 * G, T), generator=torch.Generator().manual_seed(0))
    lengths = torch.randint(1, T + 1, (3 * G,), generator=torch.Generator().manual_seed(1)) if bucketed else None
    scored = torch.ones_like(completion, dtype=torch.bool) if lengths is None else (
        torch.arange(T)[None] < lengths[:, None])
    if bucketed and T > 1:
        assert len(length_buckets(lengths)) > 1
    results = []
    for fast in (False, True):
        tiny_model.zero_grad(set_to_none=True)
        if fast:
            logp = group_token_logprobs(tiny_model, prompt, valid, completion, 0.7, lengths)
        else:
            logp = token_logprobs(tiny_model, prompt.repeat_interleave(G, 0), valid.repeat_interleave(G, 0),
                                  completion, temperature=0.7)
        logp = torch.where(scored, logp, 0.0)
        weights = torch.linspace(-1, 1, logp.numel(), dtype=logp.dtype).view_as(logp)  # any loss of every log-prob
        (logp * weights).sum().backward()
        results.append((logp.detach(), [p.grad.clone() for p in tiny_model.parameters()]))
    (default, default_grads), (fast, fast_grads) = results
    torch.testing.assert_close(fast, default, rtol=0, atol=1e-10)
    for a, b in zip(fast_grads, default_grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def cost(lengths, buckets):
    """Positions that hold the buckets' rows, each padded to its longest."""
    return sum(len(rows) * int(lengths[rows].max()) for rows in buckets)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("most", [1, 2, 3, 4])
def test_length_buckets_are_the_cheapest_split_into_runs_of_consecutive_lengths(seed, most):
    """Against every split of the sorted distinct lengths into at most ``most`` runs, tried one by one."""
    lengths = torch.randint(1, 12, (int(torch.randint(1, 30, (1,), generator=torch.Generator().manual_seed(seed))),),
                            generator=torch.Generator().manual_seed(100 + seed))
    buckets = length_buckets(lengths, most)
    assert 1 <= len(buckets) <= most
    assert sorted(torch.cat(buckets).tolist()) == list(range(len(lengths)))  # every row once
    for shorter, longer in zip(buckets, buckets[1:]):
        assert lengths[shorter].max() < lengths[longer].min()  # runs of consecutive lengths, shortest first
    values = sorted(set(lengths.tolist()))
    cheapest = min(
        sum(int((lengths >= values[i]).logical_and(lengths <= values[j - 1]).sum()) * values[j - 1]
            for i, j in zip((0, *cuts), (*cuts, len(values))))
        for k in range(min(most, len(values)))
        for cuts in itertools.combinations(range(1, len(values)), k))
    assert cost(lengths, buckets) == cheapest


def test_length_buckets_use_no_more_buckets_than_they_need():
    lengths = torch.tensor([3, 3, 7, 7, 7])
    assert [r.tolist() for r in length_buckets(lengths, 4)] == [[0, 1], [2, 3, 4]]
    assert [r.tolist() for r in length_buckets(lengths, 1)] == [[0, 1, 2, 3, 4]]


def test_scored_lengths_reach_the_last_completion_token():
    mask = torch.tensor([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    assert scored_lengths(mask).tolist() == [2, 3, 1, 4]  # a hole is scored through; an empty row on one position


def test_fast_logprobs_refuse_lengths_that_do_not_fit(tiny_model):
    prompt, valid = encode_prompts(["1+2="])
    completion = torch.zeros(2, 5, dtype=torch.long)
    for bad in (torch.tensor([0, 3]), torch.tensor([3, 6]), torch.tensor([3])):
        with pytest.raises(ValueError, match="lengths must be"):
            group_token_logprobs(tiny_model, prompt, valid, completion, lengths=bad)


def test_fast_group_logprobs_match_on_a_sampled_group_and_refuse_mixed_prompts(warm_start):
    policy, problems = warm_start
    group = step1_sampling.sample_group(policy, problems, 4, 32, 0.7, torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(scale.fast.group_logprobs(policy, group, 0.7),
                                   step1_sampling.group_logprobs(policy, group, 0.7), rtol=0, atol=2e-5)
    mixed = copy.copy(group)
    mixed.prompt = group.prompt.flip(1)
    mixed.prompt[0, 0] = group.prompt[1, 0]
    with pytest.raises(ValueError, match="share one prompt"):
        scale.fast.group_logprobs(policy, mixed)


def test_fast_generation_checks_the_block_size(tiny_model):
    prompt, valid = encode_prompts(["1+2="])
    with pytest.raises(ValueError, match="block_size"):
        generate_groups(tiny_model, prompt, valid, 2, 64, EOS_ID, PAD_ID)


SMALL = {"steps": 3, "prompts_per_step": 6, "group_size": 4, "max_new_tokens": 10, "eval_every": 1000}


@pytest.mark.parametrize("config", [LabGRPOConfig, LabPPOConfig])
def test_a_fast_run_samples_the_same_completions_and_ends_with_the_same_weights(easy_warm_start, config):
    """--fast through the lab's loop: each step's sampled reward is the same, and so are the final weights (and
    PPO's critic's; float64: Adam divides by the root of the squared gradients, so a float32 rounding in a gradient
    near 0 can move a weight by up to the learning rate)."""
    model, problems = easy_warm_start
    model = copy.deepcopy(model).double()  # not in place: the fixture is the session's
    runs = []
    for fast in (False, True):
        policy, records = copy.deepcopy(model), []
        critic = train(policy, config(**SMALL, temperature=0.8, fast=fast), problems, problems[:2],
                       log=records.append, progress=False)
        runs.append((policy, critic, [r["reward_mean"] for r in records if "reward_mean" in r]))
    (default, default_critic, default_rewards), (fast, fast_critic, fast_rewards) = runs
    assert fast_rewards == default_rewards and len(fast_rewards) == SMALL["steps"]
    for a, b in zip(fast.parameters(), default.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9)
    assert (fast_critic is None) == (default_critic is None) == (config is LabGRPOConfig)
    for a, b in zip(*(c.parameters() for c in (fast_critic, default_critic) if c is not None)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9)


@pytest.mark.parametrize("config", [LabGRPOConfig, LabPPOConfig])
def test_fast_must_be_a_bool(config):
    with pytest.raises(ValueError, match="fast must be True or False"):
        config(fast="yes")


@pytest.mark.parametrize("config", [GRPOConfig, PPOConfig])
def test_the_papers_configs_have_no_fast_path(config):
    with pytest.raises(TypeError, match="fast"):
        config(fast=True)
