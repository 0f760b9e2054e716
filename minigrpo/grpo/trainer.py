"""The GRPO loop: DeepSeekMath's Algorithm 1, one line per line, each tagged with its step.

    pi_ref <- pi_theta (the warm start, frozen)
    for step = 1 .. steps:
        pi_old <- pi_theta; sample B prompts
        sample G completions o_i ~ pi_old(. | q) per prompt                    (step 1)
        score them: r_i (outcome), or one reward per reasoning step (process)   (step 2)
        A_{i,t}: group-normalized outcome, or summed normalized step rewards    (step 3)
        for mu inner steps:
            ratio and clipped surrogate                                        (step 4)
            k3 KL to pi_ref                                                    (step 5)
            maximize J(theta) = mean of surrogate - beta KL (Eq. 3)             (step 6)

The defaults are DeepSeekMath's GRPO; a switch in GRPOConfig adds one line tagged
``# variant:`` that replaces one step's result (``variants.py``, and ``credit.py`` for the
per-step credit: VinePPO's sampled step values, process scale, noisy step labels). Under torchrun, the lines
tagged ``# distributed:`` split the batch over processes (``minigrpo/distributed``); in one process they do nothing.
``cfg.fast`` reaches sampling and the log-probs only: the same numbers from less work (``minigrpo/fast.py``).
``ppo/trainer.py`` is this loop with a critic: diff the two files.
"""

from __future__ import annotations

import random
import time

import torch
from torch.nn.utils import clip_grad_norm_
from tqdm.auto import tqdm

from ..config import GRPOConfig
from ..distributed import World, local_counts, per_prompt_sampler, shard_objective
from ..evaluate import greedy_accuracy
from ..grpo import credit, variants
from ..grpo.step1_sampling import group_logprobs, sample_group
from ..grpo.step2_reward import score_outcomes, score_steps
from ..grpo.step2_reward_model import model_outcome_scores, model_step_scores
from ..grpo.step3_group_norm import broadcast_to_tokens, group_advantages
from ..grpo.step3_process_advantages import process_advantages
from ..grpo.step4_ratio_clip import clipped_surrogate, probability_ratio
from ..grpo.step5_kl import kl_k3
from ..grpo.step6_objective import grpo_objective
from ..masked import whiten
from ..metrics import clip_fraction, step_metrics
from ..model import GPT, frozen_copy
from ..resume import Checkpoints, TrainingState
from ..reward_model import RewardModel
from ..rewards import outcome_reward, step_rewards
from ..task import Problem


def train_grpo(policy: GPT, cfg: GRPOConfig, train: list[Problem], test: list[Problem], log=None,
               progress: bool = True, checkpoints: Checkpoints | None = None,
               reward_model: RewardModel | None = None, world: World | None = None) -> GPT:
    """Run ``cfg.steps`` GRPO steps on ``policy`` in place; ``log(record)`` gets each step's metrics.

    ``reward_model`` (loaded from ``cfg.reward_model``) scores instead of the verifier; the verifier's rewards are
    still logged (``reward_mean``, held-out accuracy) next to the model's (``learned_reward_mean``).

    ``checkpoints`` (resume.py) restore a stopped run and save the state to resume from; with or without
    them, the loop stops at the first non-finite loss or gradient norm. ``world``: the processes of a torchrun
    (distributed/world.py); only its process 0 evaluates and logs."""
    world = world or World()
    world.check(cfg)
    log = log if world.main and log else (lambda record: None)
    checkpoints = checkpoints or Checkpoints()
    device = next(policy.parameters()).device
    torch.manual_seed(cfg.seed)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    prompt_rng = random.Random(cfg.seed)
    reference = frozen_copy(policy)  # pi_ref
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0)
    state = TrainingState(policy, reference, optimizer, generator, prompt_rng)
    if not checkpoints.resume(state) and world.main:  # --resume: step k's state, as an unstopped run had it
        log({"step": 0, "test_accuracy": greedy_accuracy(policy, test)["accuracy"]})
    world.broadcast_state(state)  # distributed: process 0 read the checkpoint; the others start from its state

    bar = tqdm(range(state.step + 1, cfg.steps + 1), desc="grpo", disable=not (progress and world.main))
    for step in bar:
        if variants.reference_reset_due(step, cfg.ref_reset_every):  # variant: iterative GRPO
            reference.load_state_dict(policy.state_dict())
        start = time.perf_counter()
        problems = prompt_rng.sample(train, cfg.prompts_per_step)
        problems, first = world.shard(problems)  # distributed: this process's 1/R of the prompts
        sampler = per_prompt_sampler(world, cfg, step, first, len(problems), device)  # distributed: None in one
        with torch.no_grad():  # pi_old <- pi_theta: the sampling log-probs are pi_old's
            group = sample_group(policy, problems, cfg.group_size, cfg.max_new_tokens, cfg.temperature, generator,
                                 sampler, cfg.fast)  # 1
            rewards = score_outcomes(outcome_reward, group)  # 2
            scores = rewards  # what GRPO maximizes: the verifier's r_i, unless a learned model scores instead
            if reward_model is not None and cfg.supervision == "outcome":  # variant: r_i from a learned ORM
                scores = model_outcome_scores(reward_model, group)
            if cfg.random_reward:  # variant: the control, r_i drawn at random whatever o_i says
                scores = variants.random_rewards(rewards, cfg.random_reward, generator)
            ref_logp = group_logprobs(reference, group, cfg.temperature, cfg.fast)  # for 5
            if cfg.supervision == "outcome":
                adv = group_advantages(scores, cfg.adv_eps)  # 3
                if variants.changes_advantages(cfg):  # variant: RLOO, batch or no std, several rewards, GDPO, k1
                    adv = variants.advantages(group, scores, cfg, ref_logp, world.std)  # distributed: batch std
                adv = broadcast_to_tokens(adv, group.mask)  # 3: A_{i,t} = A_i
            elif cfg.supervision == "process":
                step_r, step_ends, step_mask = score_steps(step_rewards, group)  # 2, per step
                if reward_model is not None:  # variant: each step scored by a learned PRM
                    step_r = model_step_scores(reward_model, group, step_ends, step_mask)
                    scores = step_r[step_mask]
                if cfg.step_label_noise:  # variant: a step verifier that errs
                    step_r = credit.flip_step_labels(step_r, step_mask, cfg.step_label_noise, generator)
                adv = process_advantages(step_r, step_ends, step_mask, group.mask.shape[-1], cfg.adv_eps)  # 3, process
                if cfg.process_scale == "mean":  # variant: process advantages at outcome size
                    adv = credit.mean_over_steps(adv, step_mask)
            else:  # variant: VinePPO, A = change of a sampled value across each step
                adv = credit.monte_carlo_step_advantages(policy, group, rewards, cfg.mc_samples, cfg.max_new_tokens,
                                                         cfg.temperature, generator)
                adv = whiten(adv, group.mask, center=False)  # one scale for the batch; a 0 stays 0

        clip_fracs = []
        for _ in range(cfg.num_inner_steps):
            logp = group_logprobs(policy, group, cfg.temperature, cfg.fast)
            ratio = probability_ratio(logp, group.old_logp)  # 4
            if cfg.ratio_level == "sequence":  # variant: GSPO, one ratio per completion
                ratio = variants.sequence_ratio(logp, group.old_logp, group.mask)
            surrogate = clipped_surrogate(ratio, adv, cfg.clip_eps)  # 4
            if cfg.clip_eps_high:  # variant: clip-higher (DAPO)
                surrogate = variants.clip_higher_surrogate(ratio, adv, cfg.clip_eps, cfg.clip_eps_high)
            kl = kl_k3(logp, ref_logp)  # 5
            objective = grpo_objective(surrogate, kl, group.mask, cfg.kl_coef)  # 6
            if variants.changes_objective(cfg):  # variant: k2 or TRL's rho k3 in the loss; DAPO's, Dr. GRPO's average
                objective = variants.objective(surrogate, logp, group.old_logp, ref_logp, group.mask, cfg)
            if world.torchrun:  # distributed: this shard's part of J over the whole batch (normalizers.py)
                counts = world.sum(local_counts(group.mask))  # the completions and tokens of all processes
                per_token = surrogate - cfg.kl_coef * variants.kl_in_loss(logp, group.old_logp, ref_logp,
                                                                          cfg.kl_estimator)
                objective = shard_objective(per_token, group.mask, cfg.aggregation, counts, world.size,
                                            cfg.max_new_tokens)
            optimizer.zero_grad(set_to_none=True)
            (-objective).backward()
            world.average_gradients(policy)  # distributed: every process steps with the whole batch's gradient
            grad_norm = clip_grad_norm_(policy.parameters(), cfg.grad_clip)
            optimizer.step()
            clip_fracs.append(clip_fraction(ratio.detach(), adv, surrogate.detach(), group.mask))

        record = {"step": step, **step_metrics(rewards, adv, group.mask, kl, clip_fracs, objective, grad_norm,
                                               group.entropy),
                  **variants.reward_component_means(group, cfg), "wall_s": time.perf_counter() - start}
        if reward_model is not None:  # what GRPO maximized, next to the verifier's reward_mean: the gap is hacking
            record["learned_reward_mean"] = scores.mean().item()
        record = world.mean_metrics(record)  # distributed: each metric averaged over processes
        if world.main and (step % cfg.eval_every == 0 or step == cfg.steps):
            record["test_accuracy"] = greedy_accuracy(policy, test)["accuracy"]
        log(record)
        checkpoints.step_done(record, state)  # stops at a non-finite loss or gradient norm; saves every few steps
        bar.set_postfix(reward=f"{record['reward_mean']:.2f}", acc=record.get("test_accuracy", "-"))
    return policy
