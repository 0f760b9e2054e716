"""The GRPO loop (DeepSeekMath Algorithm 1, one iteration of its outer loop).

    pi_ref <- frozen copy of the warm start
    for each step:
        pi_old <- pi_theta
        sample B prompts; G completions each from pi_old             (step 1)
        score them: outcome rewards, or per-step rewards              (step 2)
        advantages: group-normalized outcome, or process             (step 3 / step 6)
        repeat mu times: maximize J(theta) = clipped surrogate        (step 4)
                                             - beta * KL to pi_ref   (step 5)

The README's pseudocode is this loop, line for line.
"""

from __future__ import annotations

import copy
import random
import time

import torch
from tqdm.auto import tqdm

from ..config import GRPOConfig
from ..evaluate import greedy_accuracy
from ..model import GPT
from ..rewards import outcome_reward, step_rewards
from ..task import Problem
from .objective import grpo_objective, masked_completion_mean
from .step1_sampling import group_logprobs, sample_group
from .step2_reward import score_outcomes, score_steps
from .step3_group_norm import broadcast_to_tokens, group_advantages
from .step4_ratio_clip import clip_fraction
from .step5_kl import kl_k3
from .step6_process_advantages import process_advantages


def frozen_copy(model: GPT) -> GPT:
    reference = copy.deepcopy(model).eval()
    reference.requires_grad_(False)
    return reference


def train_grpo(
    policy: GPT,
    cfg: GRPOConfig,
    train: list[Problem],
    test: list[Problem],
    log=None,
    progress: bool = True,
) -> GPT:
    """Run ``cfg.steps`` GRPO steps on ``policy`` in place; ``log(record)`` gets each step's metrics."""
    device = next(policy.parameters()).device
    torch.manual_seed(cfg.seed)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    prompt_rng = random.Random(cfg.seed)
    reference = frozen_copy(policy) if cfg.kl_coef > 0 else None
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0)
    log = log or (lambda record: None)
    log({"step": 0, "test_accuracy": greedy_accuracy(policy, test)["accuracy"]})

    bar = tqdm(range(1, cfg.steps + 1), desc="grpo", disable=not progress)
    for step in bar:
        start = time.perf_counter()
        problems = prompt_rng.sample(train, cfg.prompts_per_step)
        with torch.no_grad():
            group = sample_group(policy, problems, cfg.group_size, cfg.max_new_tokens, cfg.temperature, generator)  # 1
            rewards = score_outcomes(outcome_reward, group)  # 2
            if cfg.supervision == "outcome":
                adv = broadcast_to_tokens(group_advantages(rewards, cfg.adv_eps), group.mask)  # 3
            else:
                step_r, step_ends, step_mask = score_steps(step_rewards, group)  # 2 (per step)
                adv = process_advantages(step_r, step_ends, step_mask, group.mask.shape[-1], cfg.adv_eps)  # 6
            ref_logp = group_logprobs(reference, group, cfg.temperature) if reference else None  # for 5

        clip_fracs = []
        for _ in range(cfg.num_inner_steps):
            logp = group_logprobs(policy, group, cfg.temperature)
            objective = grpo_objective(  # 4 + 5
                logp, group.old_logp, ref_logp, adv, group.mask, cfg.kl_coef, cfg.clip_eps
            )
            optimizer.zero_grad(set_to_none=True)
            (-objective).backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
            optimizer.step()
            clip_fracs.append(clip_fraction(logp.detach(), group.old_logp, adv, group.mask, cfg.clip_eps))

        record = {
            "step": step,
            "reward_mean": rewards.mean().item(),
            "reward_std": rewards.std(dim=1).mean().item(),
            "zero_spread_frac": (rewards.amax(1) == rewards.amin(1)).float().mean().item(),
            "kl": mean_kl(logp.detach(), ref_logp, group.mask),
            "clip_frac": sum(clip_fracs) / len(clip_fracs),
            "completion_len": group.mask.sum(-1).float().mean().item(),
            "loss": -objective.item(),
            "grad_norm": grad_norm.item(),
            "wall_s": time.perf_counter() - start,
        }
        if step % cfg.eval_every == 0 or step == cfg.steps:
            record["test_accuracy"] = greedy_accuracy(policy, test)["accuracy"]
        log(record)
        bar.set_postfix(reward=f"{record['reward_mean']:.2f}", acc=record.get("test_accuracy", "-"))
    return policy


def mean_kl(logp, ref_logp, mask) -> float:
    """Mean per-token k3 KL to pi_ref (0 when there is no reference)."""
    if ref_logp is None:
        return 0.0
    return masked_completion_mean(kl_k3(logp, ref_logp), mask).mean().item()
