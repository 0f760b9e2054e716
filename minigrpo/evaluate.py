"""Greedy accuracy on held-out problems: the number every run reports."""

from __future__ import annotations

import torch

from .model import GPT, generate
from .rewards import outcome_reward
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


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
