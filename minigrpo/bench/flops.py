"""How close the training forward/backward comes to the machine's matrix-multiply rate (bench part d).

FLOPs of one forward pass of the GPT over N sequences of L positions, counting matrix
multiplies only, 2 FLOPs per multiply-add (layer norms, GELU, softmax and the embedding
lookup are elementwise and left out), with d = n_embd, V = vocab_size:

    per position and layer   24 d^2    qkv 2 d (3d) + output projection 2 d d + MLP 2 d (4d) + 2 (4d) d
    per position             2 d V     the output head (tied to the embedding, still a multiply)
    per sequence and layer   4 L^2 d   scores Q K^T and their weighted sum of V: 2 L^2 (d / H) each, H heads;
                                       all L x L pairs: the attention computes every score, then masks

    forward   F = N [ L (24 n_layer d^2 + 2 d V) + 4 n_layer L^2 d ]
    training  3 F   (the backward pass multiplies twice as much: gradients for the inputs and for the weights)

The dense part of 3 F is the usual 6 x (parameters in matrix multiplies) x positions. N and L
are the shapes the training pass really computes: B * G rows of prompt + completion - 1
positions, padding included, because the dense kernels do that work too.
"""

from __future__ import annotations

import statistics
import time

import torch

from ..config import GRPOConfig, ModelConfig
from ..grpo import (
    Group,
    broadcast_to_tokens,
    clipped_surrogate,
    group_advantages,
    group_logprobs,
    grpo_objective,
    kl_k3,
    probability_ratio,
    score_outcomes,
)
from ..model import GPT
from ..rewards import outcome_reward
from .generation import synchronize


def dense_forward_flops(cfg: ModelConfig, n_seq: int, seq_len: int) -> int:
    """N L (24 n_layer d^2 + 2 d V): every weight matrix times every position."""
    d = cfg.n_embd
    return n_seq * seq_len * (24 * cfg.n_layer * d * d + 2 * d * cfg.vocab_size)


def attention_forward_flops(cfg: ModelConfig, n_seq: int, seq_len: int) -> int:
    """N 4 n_layer L^2 d: Q K^T and the weighted sum of V over all L x L pairs."""
    return n_seq * 4 * cfg.n_layer * seq_len * seq_len * cfg.n_embd


def training_flops(cfg: ModelConfig, n_seq: int, seq_len: int) -> int:
    """3 F: one forward and one backward pass over N sequences of L positions."""
    return 3 * (dense_forward_flops(cfg, n_seq, seq_len) + attention_forward_flops(cfg, n_seq, seq_len))


def matmul_rate(device: torch.device, size: int, repeats: int) -> float:
    """FLOP/s of a dense float32 ``torch.mm`` of two size x size matrices (2 size^3 FLOPs), median of ``repeats``."""
    a, b = (torch.randn(size, size, device=device) for _ in range(2))
    torch.mm(a, b)  # warm-up
    seconds = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(seconds)


def time_forward_backward(policy: GPT, group: Group, cfg: GRPOConfig, repeats: int) -> float:
    """Median seconds of the update's forward and backward pass on ``group``, the trainer's calls minus the optimizer.

    Before any update pi_ref = pi_old, so the sampling log-probs stand in for ref_logp: the
    KL term costs the same.
    """
    device = next(policy.parameters()).device
    adv = broadcast_to_tokens(group_advantages(score_outcomes(outcome_reward, group), cfg.adv_eps), group.mask)
    seconds = []
    for _ in range(repeats + 1):  # the first is a warm-up
        synchronize(device)
        start = time.perf_counter()
        logp = group_logprobs(policy, group, cfg.temperature)
        surrogate = clipped_surrogate(probability_ratio(logp, group.old_logp), adv, cfg.clip_eps)
        objective = grpo_objective(surrogate, kl_k3(logp, group.old_logp), group.mask, cfg.kl_coef)
        policy.zero_grad(set_to_none=True)
        (-objective).backward()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    policy.zero_grad(set_to_none=True)
    return statistics.median(seconds[1:])


def achieved_flops(policy: GPT, group: Group, cfg: GRPOConfig, matmul_size: int, repeats: int) -> dict:
    """The training pass's FLOP/s on a sampled batch against the matmul rate measured in the same process."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    B, G, T = group.completions.shape
    n_seq, seq_len = B * G, group.prompt.shape[-1] + T - 1
    flops = training_flops(policy.cfg, n_seq, seq_len)
    seconds = time_forward_backward(policy, group, cfg, repeats)
    peak = matmul_rate(next(policy.parameters()).device, matmul_size, repeats)
    return {
        "sequences": n_seq, "positions": seq_len, "training_flops": flops, "fwd_bwd_s": seconds,
        "achieved_flop_per_s": flops / seconds, "matmul_flop_per_s": peak, "matmul_size": matmul_size,
        "fraction_of_matmul": flops / seconds / peak,
    }
