"""Generation throughput with and without the KV cache (bench part a).

Step 1 generates all B * G completions of a batch at once, one new token per forward
pass. With the cache, a pass feeds only the newest token and attends to the stored keys
and values of the prefix; without it, the pass re-runs the whole prefix. For a prompt of
P tokens and T new tokens a row costs P + T position-forwards with the cache and
sum_{t < T} (P + t) without, so the gap grows with the completion length.
"""

from __future__ import annotations

import statistics
import time

import torch

from ...model import GPT, generate
from ...task import Problem
from ...tokenizer import EOS_ID, PAD_ID, encode_prompts


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that a timer read afterwards covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_generation(policy: GPT, problems: list[Problem], group_size: int, max_new_tokens: int, temperature: float,
                    use_cache: bool, seed: int = 0) -> tuple[float, int]:
    """(seconds, completion tokens) to sample G completions for each problem, as step 1 does."""
    device = next(policy.parameters()).device
    prompt, valid = encode_prompts([p.prompt for p in problems], device)
    prompt, valid = prompt.repeat_interleave(group_size, dim=0), valid.repeat_interleave(group_size, dim=0)
    generator = torch.Generator(device=device).manual_seed(seed)
    synchronize(device)
    start = time.perf_counter()
    _, mask, _ = generate(policy, prompt, valid, max_new_tokens, EOS_ID, PAD_ID, temperature=temperature,
                          generator=generator, use_cache=use_cache)
    synchronize(device)
    return time.perf_counter() - start, int(mask.sum())


def generation_throughput(policy: GPT, problems: list[Problem], group_size: int, max_new_tokens: int,
                          temperature: float, repeats: int) -> dict:
    """Completion tokens per second with the cache (median of ``repeats`` timings) and without it (one timing).

    Both use the same generator seed, so (on the CPU) they sample the same tokens and the
    speed-up is also the ratio of their times. One untimed call first warms up the allocator.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    time_generation(policy, problems, group_size, max_new_tokens, temperature, use_cache=True)  # warm-up
    result = {"prompts": len(problems), "group_size": group_size, "completions": len(problems) * group_size,
              "max_new_tokens": max_new_tokens}
    for name, use_cache in (("cached", True), ("uncached", False)):
        # Without the cache, generation is an order of magnitude slower: once is enough to see it.
        runs = [time_generation(policy, problems, group_size, max_new_tokens, temperature, use_cache)
                for _ in range(repeats if use_cache else 1)]
        seconds = statistics.median(s for s, _ in runs)
        result[f"{name}_s"] = seconds
        result[f"{name}_tokens"] = runs[0][1]
        result[f"{name}_tokens_per_s"] = runs[0][1] / seconds
    result["speedup"] = result["cached_tokens_per_s"] / result["uncached_tokens_per_s"]
    return result
