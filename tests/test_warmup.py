"""Supervised warm start: the loss is the mean negative log-likelihood of solution + <eos>."""

import math

import torch

from minigrpo.config import ModelConfig, WarmupConfig
from minigrpo.model import GPT
from minigrpo.task import parse_problem
from minigrpo.tokenizer import EOS_ID, encode, encode_prompts
from minigrpo.warmup import supervised_loss, warm_start


def test_supervised_loss_is_the_token_mean_nll_per_solution(tiny_model):
    problems = [parse_problem("1+2"), parse_problem("3-4+5")]
    expected = []
    for p in problems:
        # one problem at a time, no padding anywhere: an independent computation
        prompt, _ = encode_prompts([p.prompt])
        target = encode(p.solution) + [EOS_ID]
        tokens = torch.cat([prompt, torch.tensor([target])], 1)
        logits = tiny_model(tokens, torch.ones_like(tokens, dtype=torch.bool))
        nll = 0.0
        for t, token in enumerate(target):
            row = logits[0, prompt.shape[1] - 1 + t]
            nll -= (row[token] - torch.logsumexp(row, 0)).item()
        expected.append(nll / len(target))
    assert math.isclose(supervised_loss(tiny_model, problems).item(), sum(expected) / 2, rel_tol=1e-9)


def test_a_few_warm_start_steps_lower_the_loss():
    problems = [parse_problem(f"{a}+{b}") for a in range(10) for b in range(10)]
    cfg = ModelConfig(n_layer=1, n_head=2, n_embd=32, block_size=32)
    torch.manual_seed(0)
    before = supervised_loss(GPT(cfg), problems).item()  # the same init warm_start draws with seed 0
    model = warm_start(cfg, WarmupConfig(steps=80, batch_size=32, eval_every=1000), problems, problems[:5],
                       torch.device("cpu"), progress=False)
    assert supervised_loss(model, problems).item() < 0.5 * before
