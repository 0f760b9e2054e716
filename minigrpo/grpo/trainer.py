"""The GRPO loop: DeepSeekMath's Algorithm 1, one statement per line of the paper, each tagged with its step.

    for iteration = 1 .. I:  pi_ref <- pi_theta                                   (Algorithm 1, lines 2-3)
        for step = 1 .. M:
            pi_old <- pi_theta; sample B prompts
            sample G completions o_i ~ pi_old(. | q) per prompt                    (step 1)
            score them: r_i (outcome), or one reward per reasoning step (process)   (step 2)
            A_{i,t}: group-normalized outcome, or summed normalized step rewards    (step 3)
            for mu inner steps:
                ratio and clipped surrogate                                        (step 4)
                k3 KL to pi_ref                                                    (step 5)
                maximize J(theta) = mean of surrogate - beta KL (Eq. 3)             (step 6)

M is ``ref_reset_every`` (0: one iteration of all the steps, pi_ref stays the warm start). This is the paper and
nothing else: its variants, learned reward models, the fast path, torchrun and resuming live in ``minigrpo/lab``,
whose loop runs this one bit for bit at its default settings. ``ppo/trainer.py`` is this loop with a critic:
``diff minigrpo/grpo/trainer.py minigrpo/ppo/trainer.py``.
"""

from __future__ import annotations

import random
import time

import torch
from torch.nn.utils import clip_grad_norm_
from tqdm.auto import tqdm

from ..config import GRPOConfig
from ..evaluate import greedy_accuracy
from ..metrics import clip_fraction, step_metrics
from ..model import GPT, frozen_copy
from ..rewards import outcome_reward, step_rewards
from ..task import Problem
from .step1_sampling import group_logprobs, sample_group
from .step2_reward import score_outcomes, score_steps
from .step3_group_norm import broadcast_to_tokens, group_advantages
from .step3_process_advantages import process_advantages
from .step4_ratio_clip import clipped_surrogate, probability_ratio
from .step5_kl import kl_k3
from .step6_objective import grpo_objective


def train_grpo(policy: GPT, cfg: GRPOConfig, train: list[Problem], test: list[Problem], log=None,
               progress: bool = True) -> GPT:
    """Run ``cfg.steps`` GRPO steps on ``policy`` in place; ``log(record)`` gets each step's metrics."""
    log = log or (lambda record: None)
    device = next(policy.parameters()).device
    torch.manual_seed(cfg.seed)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    prompt_rng = random.Random(cfg.seed)
    reference = frozen_copy(policy)  # pi_ref
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0)
    log({"step": 0, "test_accuracy": greedy_accuracy(policy, test)["accuracy"]})
    iteration_steps = cfg.ref_reset_every or cfg.steps  # M

    for step in tqdm(range(1, cfg.steps + 1), desc="grpo", disable=not progress):
        if (step - 1) % iteration_steps == 0:  # a new iteration: pi_ref <- pi_theta
            reference.load_state_dict(policy.state_dict())
        start = time.perf_counter()
        problems = prompt_rng.sample(train, cfg.prompts_per_step)
        with torch.no_grad():  # pi_old <- pi_theta: the sampling log-probs are pi_old's
            group = sample_group(policy, problems, cfg.group_size, cfg.max_new_tokens, cfg.temperature, generator)  # 1
            rewards = score_outcomes(outcome_reward, group)  # 2
            ref_logp = group_logprobs(reference, group, cfg.temperature)  # for 5
            if cfg.supervision == "outcome":
                adv = broadcast_to_tokens(group_advantages(rewards, cfg.adv_eps), group.mask)  # 3: A_{i,t} = A_i
            else:  # process supervision: one reward per step
                step_r, step_ends, step_mask = score_steps(step_rewards, group)  # 2, per step
                adv = process_advantages(step_r, step_ends, step_mask, group.mask.shape[-1], cfg.adv_eps)  # 3

        clip_fracs = []
        for _ in range(cfg.num_inner_steps):
            logp = group_logprobs(policy, group, cfg.temperature)
            ratio = probability_ratio(logp, group.old_logp)  # 4
            surrogate = clipped_surrogate(ratio, adv, cfg.clip_eps)  # 4
            kl = kl_k3(logp, ref_logp)  # 5
            objective = grpo_objective(surrogate, kl, group.mask, cfg.kl_coef)  # 6
            optimizer.zero_grad(set_to_none=True)
            (-objective).backward()
            grad_norm = clip_grad_norm_(policy.parameters(), cfg.grad_clip)
            optimizer.step()
            clip_fracs.append(clip_fraction(ratio.detach(), adv, surrogate.detach(), group.mask))

        record = {"step": step, **step_metrics(rewards, adv, group.mask, kl, clip_fracs, objective, grad_norm,
                                               group.entropy), "wall_s": time.perf_counter() - start}
        if step % cfg.eval_every == 0 or step == cfg.steps:
            record["test_accuracy"] = greedy_accuracy(policy, test)["accuracy"]
        log(record)
    return policy
