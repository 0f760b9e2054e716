"""Held-out accuracy: greedy (the number every run reports), process-verified, and sampled pass@k.

    greedy accuracy            the argmax completion's final answer is right
    process-verified accuracy  ... and every step of it is right too (``rewards.step_rewards`` all 1)
    pass@k                     the chance that at least one of k samples is right, estimated without bias from
                               n >= k samples per problem of which c are right (Chen et al. 2021, Eq. 1):
                               pass@k = 1 - C(n - c, k) / C(n, k), averaged over the problems
Greedy accuracy asks what the policy does; pass@k asks what it can do: whether RL sharpens answers the warm
start could already sample, or finds new ones.
"""

from __future__ import annotations

import torch

from .model import GPT, generate
from .rewards import outcome_reward, step_rewards
from .task import Problem
from .tokenizer import EOS_ID, PAD_ID, decode, encode_prompts


def greedy_completions(model: GPT, problems: list[Problem], max_new_tokens: int | None = None,
                       batch_size: int = 512):
    """The argmax completion text for each problem, generated in batches.

    ``max_new_tokens=None`` lets a completion run to the end of the model's context window.
    """
    device = next(model.parameters()).device
    texts = []
    with torch.inference_mode():  # only text leaves this function, so no tensor can reach autograd
        for start in range(0, len(problems), batch_size):
            chunk = problems[start : start + batch_size]
            prompt, valid = encode_prompts([p.prompt for p in chunk], device)
            budget = max_new_tokens or model.cfg.block_size - prompt.shape[1] + 1
            completions, _, _ = generate(model, prompt, valid, budget, EOS_ID, PAD_ID, greedy=True)
            texts += [decode(row) for row in completions.tolist()]
    return texts


def greedy_accuracy(model: GPT, problems: list[Problem], max_new_tokens: int | None = None) -> dict:
    """{"accuracy": fraction with the right final answer, "n": number of problems}."""
    was_training = model.training
    model.eval()
    try:
        texts = greedy_completions(model, problems, max_new_tokens)
    finally:
        model.train(was_training)
    correct = sum(outcome_reward(p, t) for p, t in zip(problems, texts))
    return {"accuracy": correct / len(problems), "n": len(problems)}


def process_verified_accuracy(model: GPT, problems: list[Problem]) -> dict:
    """{"accuracy": fraction whose greedy completion has the right answer and only right steps, "n": problems}."""
    was_training = model.training
    model.eval()
    try:
        texts = greedy_completions(model, problems)
    finally:
        model.train(was_training)
    verified = sum(outcome_reward(p, t) == 1.0 and all(s.reward == 1.0 for s in step_rewards(p, t))
                   for p, t in zip(problems, texts))
    return {"accuracy": verified / len(problems), "n": len(problems)}


def pass_at_k(n: int, c: int, k: int) -> float:
    """1 - C(n - c, k) / C(n, k): the chance that k of the n samples, drawn without replacement, hold a right one.

    Computed as 1 - prod_{i = n - c + 1}^{n} (1 - k / i), which never forms the large binomials."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n = {n}, c = {c}, k = {k}")
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


@torch.no_grad()
def sampled_pass_at_k(model: GPT, problems: list[Problem], ks: list[int], n: int, max_new_tokens: int,
                      temperature: float = 1.0, generator: torch.Generator | None = None, batch_size: int = 64) -> dict:
    """{"pass@k": mean over problems of pass_at_k(n, c, k), for each k in ks; "right_per_problem": the c's}.

    n completions per problem are sampled at ``temperature`` from ``model`` (all of a problem's n together)."""
    if not ks or max(ks) > n or min(ks) < 1:
        raise ValueError(f"every k must be in [1, n = {n}], got {ks}")
    was_training = model.training
    model.eval()
    right = []
    try:
        for start in range(0, len(problems), batch_size):  # batch_size problems, n samples each, at a time
            chunk = problems[start:start + batch_size]
            prompt, valid = encode_prompts([p.prompt for p in chunk], next(model.parameters()).device)
            completions, _, _ = generate(model, prompt.repeat_interleave(n, 0), valid.repeat_interleave(n, 0),
                                         max_new_tokens, EOS_ID, PAD_ID, temperature=temperature, generator=generator)
            texts = [decode(row) for row in completions.tolist()]
            right += [int(sum(outcome_reward(p, t) for t in texts[b * n:(b + 1) * n])) for b, p in enumerate(chunk)]
    finally:
        model.train(was_training)
    return {**{f"pass@{k}": sum(pass_at_k(n, c, k) for c in right) / len(problems) for k in ks},
            "right_per_problem": right}


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
