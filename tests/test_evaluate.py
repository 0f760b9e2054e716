"""Held-out measures: pass@k against brute-force enumeration, and each measure against a by-hand count."""

import itertools
import math

import pytest
import torch

from minigrpo.evaluate import greedy_completions, pass_at_k, process_verified_accuracy, sampled_pass_at_k
from minigrpo.model import generate
from minigrpo.rewards import outcome_reward, step_rewards
from minigrpo.tokenizer import EOS_ID, PAD_ID, decode, encode_prompts


@pytest.mark.parametrize("n, c, k", [(5, 0, 1), (5, 1, 1), (5, 2, 3), (6, 3, 4), (8, 1, 8), (7, 6, 2), (4, 4, 4)])
def test_pass_at_k_is_the_chance_that_a_k_subset_holds_a_right_sample(n, c, k):
    samples = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    brute = sum(any(samples[i] for i in subset) for subset in subsets) / len(subsets)
    assert pass_at_k(n, c, k) == pytest.approx(brute, abs=1e-12)
    assert pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k), abs=1e-12)


def test_pass_at_1_is_the_fraction_right():
    assert pass_at_k(16, 5, 1) == pytest.approx(5 / 16)


@pytest.mark.parametrize("n, c, k", [(3, 4, 1), (3, 1, 4), (3, 1, 0), (3, -1, 1)])
def test_pass_at_k_refuses_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_sampled_pass_at_k_counts_the_same_samples_by_hand(easy_warm_start):
    model, problems = easy_warm_start
    problems = problems[:10]
    got = sampled_pass_at_k(model, problems, [1, 2, 4], 4, 10, 1.0, torch.Generator().manual_seed(5), batch_size=4)
    generator, right = torch.Generator().manual_seed(5), []
    for start in range(0, 10, 4):  # the same batches, so the same draws from the generator
        chunk = problems[start:start + 4]
        prompt, valid = encode_prompts([p.prompt for p in chunk])
        out, _, _ = generate(model, prompt.repeat_interleave(4, 0), valid.repeat_interleave(4, 0), 10, EOS_ID,
                             PAD_ID, temperature=1.0, generator=generator)
        texts = [decode(row) for row in out.tolist()]
        right += [int(sum(outcome_reward(p, texts[4 * b + j]) for j in range(4))) for b, p in enumerate(chunk)]
    assert got["right_per_problem"] == right
    for k in (1, 2, 4):
        assert got[f"pass@{k}"] == pytest.approx(sum(1 - math.comb(4 - c, k) / math.comb(4, k) for c in right) / 10)
    assert got["pass@1"] <= got["pass@2"] <= got["pass@4"]


def test_process_verified_accuracy_needs_the_answer_and_every_step_right(easy_warm_start):
    model, problems = easy_warm_start
    texts = greedy_completions(model, problems)
    expected = sum(outcome_reward(p, t) == 1 and all(s.reward == 1 for s in step_rewards(p, t))
                   for p, t in zip(problems, texts)) / len(problems)
    result = process_verified_accuracy(model, problems)
    assert result["accuracy"] == pytest.approx(expected) and result["n"] == len(problems)


def test_eval_command_prints_process_verified_accuracy_and_pass_at_k(tmp_path, capsys):
    import json

    from test_cli import small_data

    from minigrpo.lab.cli import main

    small_data(tmp_path)
    common = ["eval", "--checkpoint", str(tmp_path / "init.pt"), "--data", str(tmp_path), "--device", "cpu"]
    assert main([*common, "--samples", "4", "--k", "1", "4", "--max-new-tokens", "8"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= result["process_verified_accuracy"] <= result["accuracy"] <= 1
    assert 0 <= result["pass@1"] <= result["pass@4"] <= 1 and "pass@8" not in result
    assert main([*common, "--samples", "4", "--k", "8"]) == 2
    assert "--k must be in [1, --samples = 4]" in capsys.readouterr().err
