"""The PPO loop: GRPO's loop (grpo/trainer.py) with the group baseline replaced by a critic.

    pi_ref <- pi_theta (the warm start, frozen);  V <- a second copy of it, with a value head
    for step = 1 .. steps:
        pi_old <- pi_theta; sample B prompts
        sample G completions o_i ~ pi_old(. | q) per prompt                    (step 1, shared)
        score them: r_i (outcome)                                              (step 2, shared)
        per-token reward: r_i at the last token - beta KL                      (the KL moves into the reward)
        A_{i,t} by GAE from the critic's values V(q, o_<t), not from the group  (replaces step 3)
        for mu inner steps:
            ratio and clipped surrogate                                        (step 4, shared)
            maximize J(theta) = mean of the surrogate, no KL term              (step 6 without step 5)
            regress V on the GAE returns (clipped value loss)                  (the critic learns)

``diff minigrpo/grpo/trainer.py minigrpo/ppo/trainer.py``: the lines that differ are the lesson. Textbook PPO as
RLHF uses it (InstructGPT-style, a separate critic); the fast path, torchrun and resuming live in ``minigrpo/lab``,
whose loop runs this one bit for bit at its default settings.
"""

from __future__ import annotations

import random
import time

import torch
from torch.nn.utils import clip_grad_norm_
from tqdm.auto import tqdm

from ..config import PPOConfig
from ..evaluate import greedy_accuracy
from ..grpo.step1_sampling import group_logprobs, sample_group
from ..grpo.step2_reward import score_outcomes
from ..grpo.step4_ratio_clip import clipped_surrogate, probability_ratio
from ..grpo.step5_kl import kl_k3
from ..masked import completion_mean, whiten
from ..metrics import clip_fraction, step_metrics
from ..model import GPT, frozen_copy
from ..rewards import outcome_reward
from ..task import Problem
from .critic import ValueModel, completion_values
from .gae import gae
from .kl_reward import kl_penalized_rewards
from .value_loss import clipped_value_loss, critic_metrics


def train_ppo(policy: GPT, cfg: PPOConfig, train: list[Problem], test: list[Problem], log=None,
              progress: bool = True) -> ValueModel:
    """Run ``cfg.steps`` PPO steps on ``policy`` in place; ``log(record)`` gets each step's metrics. Returns V."""
    log = log or (lambda record: None)
    device = next(policy.parameters()).device
    torch.manual_seed(cfg.seed)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    prompt_rng = random.Random(cfg.seed)
    reference = frozen_copy(policy)  # pi_ref
    critic = ValueModel.from_policy(policy)  # V
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0)
    critic_optimizer = torch.optim.AdamW(critic.parameters(), lr=cfg.critic_lr, weight_decay=0.0)
    log({"step": 0, "test_accuracy": greedy_accuracy(policy, test)["accuracy"]})

    for step in tqdm(range(1, cfg.steps + 1), desc="ppo", disable=not progress):
        start = time.perf_counter()
        problems = prompt_rng.sample(train, cfg.prompts_per_step)
        with torch.no_grad():  # pi_old <- pi_theta: the sampling log-probs are pi_old's
            group = sample_group(policy, problems, cfg.group_size, cfg.max_new_tokens, cfg.temperature, generator)  # 1
            rewards = score_outcomes(outcome_reward, group)  # 2
            ref_logp = group_logprobs(reference, group, cfg.temperature)  # for 5
            token_rewards = kl_penalized_rewards(rewards, group.old_logp, ref_logp, group.mask, cfg.kl_coef)
        values = completion_values(critic, group)  # V(q, o_<t), with gradient: the first critic update reuses it
        old_values = values.detach()  # V_old, as old_logp is pi_old's
        adv, returns = gae(token_rewards, old_values, group.mask, cfg.gamma, cfg.lam)  # instead of 3
        adv = whiten(adv, group.mask) if cfg.whiten_advantages else adv

        clip_fracs = []
        for inner in range(cfg.num_inner_steps):
            logp = group_logprobs(policy, group, cfg.temperature)
            ratio = probability_ratio(logp, group.old_logp)  # 4
            surrogate = clipped_surrogate(ratio, adv, cfg.clip_eps)  # 4
            kl = kl_k3(logp, ref_logp)  # 5, for the log only: the KL is in the reward
            objective = completion_mean(surrogate, group.mask).mean()  # 6, without a KL term
            optimizer.zero_grad(set_to_none=True)
            (-objective).backward()
            grad_norm = clip_grad_norm_(policy.parameters(), cfg.grad_clip)
            optimizer.step()
            clip_fracs.append(clip_fraction(ratio.detach(), adv, surrogate.detach(), group.mask))
            if inner > 0:
                values = completion_values(critic, group)
            value_loss = clipped_value_loss(values, old_values, returns, group.mask, cfg.value_clip_eps)
            critic_optimizer.zero_grad(set_to_none=True)
            value_loss.backward()
            clip_grad_norm_(critic.parameters(), cfg.grad_clip)
            critic_optimizer.step()

        record = {"step": step, **step_metrics(rewards, adv, group.mask, kl, clip_fracs, objective, grad_norm,
                                               group.entropy),
                  **critic_metrics(value_loss, old_values, returns, group.mask), "wall_s": time.perf_counter() - start}
        if step % cfg.eval_every == 0 or step == cfg.steps:
            record["test_accuracy"] = greedy_accuracy(policy, test)["accuracy"]
        log(record)
    return critic
