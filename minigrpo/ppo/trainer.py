"""The PPO loop: GRPO's loop (grpo/trainer.py) with the group baseline replaced by a critic.

    pi_ref <- frozen copy of the warm start;  V <- a second copy of it, with a value head
    for each step:
        pi_old <- pi_theta
        sample B prompts; G completions each from pi_old             (step 1, shared)
        score them: outcome rewards                                    (step 2, shared)
        per-token reward: r at the last token - beta * KL              (the KL moves into the reward)
        values V(q, o_<t) from the critic; advantages and returns by GAE  (instead of step 3)
        repeat mu times: maximize the clipped surrogate                (step 4, shared; no KL term)
                         and regress V on the returns (clipped value loss)

Diff this file against grpo/trainer.py: the lines that differ are the lesson.
"""

from __future__ import annotations

import random
import time

import torch
from tqdm.auto import tqdm

from ..config import PPOConfig
from ..evaluate import greedy_accuracy
from ..grpo.objective import grpo_objective
from ..grpo.step1_sampling import group_logprobs, sample_group
from ..grpo.step2_reward import score_outcomes
from ..grpo.step4_ratio_clip import clip_fraction
from ..grpo.trainer import frozen_copy, mean_kl
from ..model import GPT
from ..rewards import outcome_reward
from ..task import Problem
from .critic import Critic, completion_values
from .gae import gae, whiten
from .kl_reward import kl_penalized_rewards
from .value_loss import clipped_value_loss, explained_variance


def train_ppo(
    policy: GPT,
    cfg: PPOConfig,
    train: list[Problem],
    test: list[Problem],
    log=None,
    progress: bool = True,
) -> Critic:
    """Run ``cfg.steps`` PPO steps on ``policy`` in place; returns the trained critic."""
    device = next(policy.parameters()).device
    torch.manual_seed(cfg.seed)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    prompt_rng = random.Random(cfg.seed)
    reference = frozen_copy(policy) if cfg.kl_coef > 0 else None
    critic = Critic.from_policy(policy)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0)
    critic_optimizer = torch.optim.AdamW(critic.parameters(), lr=cfg.critic_lr, weight_decay=0.0)
    log = log or (lambda record: None)
    log({"step": 0, "test_accuracy": greedy_accuracy(policy, test)["accuracy"]})

    bar = tqdm(range(1, cfg.steps + 1), desc="ppo", disable=not progress)
    for step in bar:
        start = time.perf_counter()
        problems = prompt_rng.sample(train, cfg.prompts_per_step)
        with torch.no_grad():
            group = sample_group(policy, problems, cfg.group_size, cfg.max_new_tokens, cfg.temperature, generator)  # 1
            rewards = score_outcomes(outcome_reward, group)  # 2
            ref_logp = group_logprobs(reference, group, cfg.temperature) if reference else None
            token_rewards = kl_penalized_rewards(rewards, group.old_logp, ref_logp, group.mask, cfg.kl_coef)
        values = completion_values(critic, group)  # with gradient: the first critic update reuses this pass
        old_values = values.detach()  # V_old, as old_logp is pi_old: no second forward
        with torch.no_grad():
            adv, returns = gae(token_rewards, old_values, group.mask, cfg.gamma, cfg.lam)  # replaces 3
            if cfg.whiten_advantages:
                adv = whiten(adv, group.mask)

        clip_fracs = []
        for inner in range(cfg.num_inner_steps):
            logp = group_logprobs(policy, group, cfg.temperature)
            objective = grpo_objective(logp, group.old_logp, None, adv, group.mask, 0.0, cfg.clip_eps)  # 4, KL is in r
            optimizer.zero_grad(set_to_none=True)
            (-objective).backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
            optimizer.step()
            clip_fracs.append(clip_fraction(logp.detach(), group.old_logp, adv, group.mask, cfg.clip_eps))

            if inner > 0:
                values = completion_values(critic, group)
            value_loss = clipped_value_loss(values, old_values, returns, group.mask, cfg.value_clip_eps)
            critic_optimizer.zero_grad(set_to_none=True)
            value_loss.backward()
            torch.nn.utils.clip_grad_norm_(critic.parameters(), cfg.grad_clip)
            critic_optimizer.step()

        record = {
            "step": step,
            "reward_mean": rewards.mean().item(),
            "reward_std": rewards.std(dim=1).mean().item(),
            "kl": mean_kl(logp.detach(), ref_logp, group.mask),
            "clip_frac": sum(clip_fracs) / len(clip_fracs),
            "completion_len": group.mask.sum(-1).float().mean().item(),
            "loss": -objective.item(),
            "value_loss": value_loss.item(),
            "explained_variance": explained_variance(old_values, returns, group.mask),
            "grad_norm": grad_norm.item(),
            "wall_s": time.perf_counter() - start,
        }
        if step % cfg.eval_every == 0 or step == cfg.steps:
            record["test_accuracy"] = greedy_accuracy(policy, test)["accuracy"]
        log(record)
        bar.set_postfix(reward=f"{record['reward_mean']:.2f}", acc=record.get("test_accuracy", "-"))
    return critic
