"""Each phase of a GRPO step against the machine's matrix-multiply rate, on today's path and on --fast (bench part d).

FLOPs of the GPT's passes, counting matrix multiplies only, 2 FLOPs per multiply-add (layer norms, GELU, softmax
and the embedding lookup are elementwise and left out), with d = n_embd, V = vocab_size, over ``rows`` sequences
of ``queries`` new positions that attend to ``keys`` positions (a cached prefix and themselves):

    per query and layer      24 d^2       qkv 2 d (3d) + output projection 2 d d + MLP 2 d (4d) + 2 (4d) d
    per query, key, layer    4 d          its score against the key and its share of the key's value: 2 (d / H)
                                          each, H heads; every pair, masked or not (the attention computes all)
    per position read out    2 d V        the output head (tied to the embedding, still a multiply)

    blocks    Fb(rows, queries, keys) = rows queries n_layer (24 d^2 + 4 keys d)
    head      Fh(positions) = 2 d V positions
    forward   F(N, L) = Fb(N, L, L) + Fh(N L), N sequences of L positions
    training  3 F   (the backward pass multiplies twice as much: gradients for the inputs and for the weights)

What each phase computes, for B prompts x G completions (N = B G rows), prompts of P positions, completions of T:

    scoring    F(N, P + T - 1): prompt and completion in one pass (pi_ref's log-probs; x 3 to train)
               --fast: Fb(B, P, P) + sum over length buckets of Fb(n, T_b - 1, P + T_b - 1) + Fh(n T_b), the
               prompt once per group and each bucket of n rows padded to its longest, T_b
    sampling   F(N, P) for the prompt, then Fb(n_t, 1, P + t + 1) + Fh(n_t) to feed back token t, t = 0 .. T - 2,
               with n_t = N rows; --fast: F(B, P), and n_t = the rows still writing (no <eos> yet)

The dense part of 3 F is the usual 6 x (parameters in matrix multiplies) x positions. The shapes are the ones the
passes really compute, padding included, because the dense kernels do that work too.
"""

from __future__ import annotations

import statistics
import time

import torch

from ...config import ModelConfig
from ...grpo import (
    Group,
    broadcast_to_tokens,
    clipped_surrogate,
    group_advantages,
    grpo_objective,
    kl_k3,
    probability_ratio,
    score_outcomes,
    step1_sampling,
)
from ...model import GPT
from ...rewards import outcome_reward
from ..config import LabGRPOConfig
from ..scale import fast as fast_path
from ..scale.fast import BUCKETS, length_buckets, scored_lengths
from .generation import synchronize


def path(fast: bool):
    """The module whose ``sample_group`` and ``group_logprobs`` a step calls: step 1's, or the fast path's."""
    return fast_path if fast else step1_sampling


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


def blocks_flops(cfg: ModelConfig, rows: int, queries: int, keys: int) -> int:
    """Fb(rows, queries, keys) = rows queries n_layer (24 d^2 + 4 keys d): the blocks, without the head."""
    d = cfg.n_embd
    return rows * queries * cfg.n_layer * (24 * d * d + 4 * keys * d)


def head_flops(cfg: ModelConfig, positions: int) -> int:
    """Fh(positions) = 2 d V positions: the logits of the positions read out."""
    return 2 * cfg.n_embd * cfg.vocab_size * positions


def scoring_flops(cfg: ModelConfig, group: Group, fast: bool, most: int = BUCKETS) -> int:
    """One forward pass that scores the group's completions: F(N, P + T - 1), or --fast's prompt once per group
    and its ``most`` length buckets (as many as there are lengths: no padded position, the least any path computes).
    """
    B, G, T = group.completions.shape
    P, N = group.prompt.shape[-1], B * G
    if fast:
        lengths = scored_lengths(group.mask.flatten(0, 1))
        total = blocks_flops(cfg, B, P, P)
        for rows in length_buckets(lengths, most):
            n, longest = len(rows), int(lengths[rows].max())
            total += blocks_flops(cfg, n, longest - 1, P + longest - 1) + head_flops(cfg, n * longest)
        return total
    return blocks_flops(cfg, N, P + T - 1, P + T - 1) + head_flops(cfg, N * (P + T - 1))


def sampling_flops(cfg: ModelConfig, group: Group, fast: bool) -> int:
    """Generating the group: the prompt pass, then one position per row still computed at each new token."""
    B, G, T = group.completions.shape
    P = group.prompt.shape[-1]
    writing = group.mask.flatten(0, 1)[:, 1:].sum(0).tolist()  # [T - 1]: rows with no <eos> among tokens 0..t
    prompt_rows = B if fast else B * G
    total = blocks_flops(cfg, prompt_rows, P, P) + head_flops(cfg, prompt_rows * P)
    for t in range(T - 1):
        rows = writing[t] if fast else B * G
        total += blocks_flops(cfg, rows, 1, P + t + 1) + head_flops(cfg, rows)
    return total


def matmul_rate(device: torch.device, size: int, repeats: int) -> float:
    """FLOP/s of a dense float32 ``torch.mm`` of two size x size matrices (2 size^3 FLOPs), median of ``repeats``."""
    a, b = (torch.randn(size, size, device=device) for _ in range(2))
    return 2 * size**3 / median_seconds(lambda: torch.mm(a, b), device, repeats)


def median_seconds(work, device: torch.device, repeats: int) -> float:
    """Median seconds of ``work()`` over ``repeats`` calls, after one more that warms up."""
    seconds = []
    for _ in range(repeats + 1):  # the first is a warm-up
        synchronize(device)
        start = time.perf_counter()
        work()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds[1:])


def time_forward_backward(policy: GPT, group: Group, cfg: LabGRPOConfig, repeats: int, fast: bool = False) -> float:
    """Median seconds of the update's forward and backward pass on ``group``, the trainer's calls minus the optimizer.

    Before any update pi_ref = pi_old, so the sampling log-probs stand in for ref_logp: the
    KL term costs the same.
    """
    adv = broadcast_to_tokens(group_advantages(score_outcomes(outcome_reward, group), cfg.adv_eps), group.mask)

    def work():
        logp = path(fast).group_logprobs(policy, group, cfg.temperature)
        surrogate = clipped_surrogate(probability_ratio(logp, group.old_logp), adv, cfg.clip_eps)
        objective = grpo_objective(surrogate, kl_k3(logp, group.old_logp), group.mask, cfg.kl_coef)
        policy.zero_grad(set_to_none=True)
        (-objective).backward()

    seconds = median_seconds(work, next(policy.parameters()).device, repeats)
    policy.zero_grad(set_to_none=True)
    return seconds


def achieved_flops(policy: GPT, group: Group, cfg: LabGRPOConfig, matmul_size: int, repeats: int) -> dict:
    """Each phase's FLOP/s on one sampled batch, today's path and --fast, against the matmul rate of the same process.

    ``group`` was sampled from ``policy`` with the seed ``cfg.seed``: sampling it again draws the same completions.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    device = next(policy.parameters()).device
    B, G, T = group.completions.shape
    problems = group.problems

    def sample(fast):
        return lambda: path(fast).sample_group(policy, problems, G, cfg.max_new_tokens, cfg.temperature,
                                               torch.Generator(device=device).manual_seed(cfg.seed))

    def reference(fast):
        def work():
            with torch.no_grad():
                path(fast).group_logprobs(policy, group, cfg.temperature)
        return work

    phases = {}
    for fast in (False, True):  # each path in turn, phase by phase
        name = "fast" if fast else "today"
        phases.setdefault("sampling", {})[name] = {
            "flops": sampling_flops(policy.cfg, group, fast), "s": median_seconds(sample(fast), device, repeats)}
        phases.setdefault("reference", {})[name] = {
            "flops": scoring_flops(policy.cfg, group, fast), "s": median_seconds(reference(fast), device, repeats)}
        phases.setdefault("training", {})[name] = {
            "flops": 3 * scoring_flops(policy.cfg, group, fast),
            "s": time_forward_backward(policy, group, cfg, repeats, fast)}
    peak = matmul_rate(device, matmul_size, repeats)
    for phase in phases.values():
        for numbers in phase.values():
            numbers["fraction_of_matmul"] = numbers["flops"] / numbers["s"] / peak
    # sampling as --fast does it (no finished row, each prompt once), then scoring with no padded position, four
    # times: the reference's forward and the policy's forward and backward
    least = sampling_flops(policy.cfg, group, True) + 4 * scoring_flops(policy.cfg, group, True, most=B * G)
    return {
        "sequences": B * G, "positions": group.prompt.shape[-1] + T - 1, "matmul_flop_per_s": peak,
        "least_step_flops": least,
        "matmul_size": matmul_size, "phases": phases,
        "fraction_of_matmul": phases["training"]["today"]["fraction_of_matmul"],
    }
