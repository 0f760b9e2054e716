"""Assignment: assemble the paper's loop, DeepSeekMath's Algorithm 1, from the six steps.

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

The set-up is written (seeds, pi_ref, the optimizer, the first evaluation) and the loop's body is yours: each
comment names the function of the package that does that line; read its docstring for its arguments. The grade is
strict: from the same warm start and seed, a few steps of your loop must end with the same policy weights, bit for
bit, and log the same metrics as the lab's loop (``minigrpo/lab/loop.py``, which calls the steps itself and never
this function), with outcome and process supervision, mu = 2 at a temperature other than 1, and pi_ref reset every
2 steps. Bit for bit means the random numbers must be drawn in the same order: the prompts, then the completions.
Grade it: make exercise NAME=train_grpo. It grades runs/exercises/train_grpo.py, your copy of
the template minigrpo/lab/exercises/train_grpo.py, made the first time: edit the copy, never the template.
The solution: ``minigrpo/grpo/trainer.py``.
"""

from __future__ import annotations

import random
import time

import torch
from torch.nn.utils import clip_grad_norm_
from tqdm.auto import tqdm

from minigrpo.config import GRPOConfig
from minigrpo.evaluate import greedy_accuracy
from minigrpo.grpo.step1_sampling import group_logprobs, sample_group
from minigrpo.grpo.step2_reward import score_outcomes, score_steps
from minigrpo.grpo.step3_group_norm import broadcast_to_tokens, group_advantages
from minigrpo.grpo.step3_process_advantages import process_advantages
from minigrpo.grpo.step4_ratio_clip import clipped_surrogate, probability_ratio
from minigrpo.grpo.step5_kl import kl_k3
from minigrpo.grpo.step6_objective import grpo_objective
from minigrpo.metrics import clip_fraction, step_metrics
from minigrpo.model import GPT, frozen_copy
from minigrpo.rewards import outcome_reward, step_rewards
from minigrpo.task import Problem


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
        # at the first step of each iteration of M = iteration_steps steps: pi_ref <- pi_theta (load_state_dict)
        # start the step's clock (time.perf_counter), then draw cfg.prompts_per_step problems: prompt_rng.sample
        # with torch.no_grad():  pi_old <- pi_theta: nothing sampled or scored here is differentiated
        #     step 1: sample_group (G = cfg.group_size completions per prompt, at cfg.temperature, from generator)
        #     step 2: score_outcomes(outcome_reward, ...): r_i, the rewards [B, G]
        #             group_logprobs of the reference: ref_logp, for step 5 (at the sampling temperature)
        #     step 3: outcome supervision: group_advantages, spread over the tokens with broadcast_to_tokens
        #             process supervision: score_steps(step_rewards, ...), then process_advantages
        # for each of the mu = cfg.num_inner_steps inner steps:
        #     group_logprobs of the policy: logp, the only log-probs with a gradient
        #     step 4: probability_ratio against the sampling log-probs (group.old_logp), then clipped_surrogate
        #     step 5: kl_k3 against ref_logp
        #     step 6: grpo_objective; maximize it: zero the gradients, backward of -objective, clip_grad_norm_ to
        #             cfg.grad_clip, optimizer.step; keep clip_fraction(ratio.detach(), adv, surrogate.detach(), mask)
        # the step's record: {"step": step, **step_metrics(rewards, adv, mask, kl, the clip fractions, objective,
        #     grad_norm, group.entropy), "wall_s": seconds}, plus "test_accuracy" (greedy_accuracy on test) every
        #     cfg.eval_every steps and at the last step; then log(record)
        raise NotImplementedError("exercise: write the loop's body here (and delete this line)")
    return policy
