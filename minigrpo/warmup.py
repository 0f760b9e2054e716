"""Supervised warm start: next-token loss on worked solutions.

    L(theta) = - 1/|o| sum_t log pi_theta(o_t | q, o_<t),   o = solution + <eos>

averaged over a batch of (problem, solution) pairs; the prompt tokens are context
only. Stopped early on purpose: GRPO needs a policy that is right sometimes, not
always (a group whose completions are all right or all wrong has no signal).
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from .config import ModelConfig, WarmupConfig
from .evaluate import greedy_accuracy
from .masked import completion_mean
from .model import GPT, token_logprobs
from .task import Problem
from .tokenizer import EOS_ID, PAD_ID, encode, encode_prompts


def encode_solutions(problems: list[Problem], device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded targets: solution tokens then <eos> -> tokens [N, T], mask [N, T]."""
    rows = [encode(p.solution) + [EOS_ID] for p in problems]
    width = max(len(r) for r in rows)
    tokens = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
    for i, r in enumerate(rows):
        tokens[i, : len(r)] = torch.tensor(r)
    tokens = tokens.to(device)
    return tokens, tokens != PAD_ID


def supervised_loss(model: GPT, problems: list[Problem]) -> torch.Tensor:
    device = next(model.parameters()).device
    prompt, prompt_valid = encode_prompts([p.prompt for p in problems], device)
    target, mask = encode_solutions(problems, device)
    logp = token_logprobs(model, prompt, prompt_valid, target)
    return -completion_mean(logp, mask).mean()


def warm_start(
    model_cfg: ModelConfig,
    cfg: WarmupConfig,
    train: list[Problem],
    test: list[Problem],
    device: torch.device,
    log=None,
    progress: bool = True,
) -> GPT:
    """Train a fresh GPT on ``train`` for ``cfg.steps`` steps; ``log(record)`` gets metrics."""
    torch.manual_seed(cfg.seed)
    order = torch.Generator().manual_seed(cfg.seed)
    model = GPT(model_cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 50))
    perm, cursor = torch.randperm(len(train), generator=order), 0
    for step in tqdm(range(1, cfg.steps + 1), desc="warm start", disable=not progress):
        if cursor + cfg.batch_size > len(train):
            perm, cursor = torch.randperm(len(train), generator=order), 0
        batch = [train[i] for i in perm[cursor : cursor + cfg.batch_size].tolist()]
        cursor += cfg.batch_size
        loss = supervised_loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        record = {"step": step, "loss": loss.item()}
        if step % cfg.eval_every == 0 or step == cfg.steps:
            record["test_accuracy"] = greedy_accuracy(model, test)["accuracy"]
        if log:
            log(record)
    return model
