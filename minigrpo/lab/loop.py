"""The lab's loop: the paper's GRPO and PPO loops, with every switch of the lab resolved once, before the first step.

``recipe(cfg, ...)`` reads the config and returns the function each step calls: the paper's (``minigrpo/grpo``,
``minigrpo/ppo``) where the config keeps its default, a variant's (``lab/variants``), a learned reward model's
(``lab/reward_models``), the fast path's or torchrun's (``lab/scale``) where it does not. The loop then runs those
functions in the paper's order and never asks the config again. At the default settings every function is the
paper's and the loop is ``grpo/trainer.py`` (or ``ppo/trainer.py``) bit for bit: tests/test_lab_loop.py holds the
two to the same metrics and weights. What the loop adds to the paper's: resuming (``lab/runs.py``), stopping at a
non-finite loss, and torchrun (``lab/scale/world.py``: in one process its collective operations do nothing).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch.nn.utils import clip_grad_norm_
from tqdm.auto import tqdm

from ..checkpoint import load_checkpoint
from ..evaluate import greedy_accuracy
from ..grpo import step1_sampling
from ..grpo.step2_reward import score_outcomes, score_steps
from ..grpo.step3_group_norm import broadcast_to_tokens, group_advantages
from ..grpo.step3_process_advantages import process_advantages
from ..grpo.step4_ratio_clip import clipped_surrogate, probability_ratio
from ..grpo.step5_kl import kl_k3
from ..grpo.step6_objective import grpo_objective
from ..masked import aggregate, whiten
from ..metrics import clip_fraction, step_metrics
from ..model import GPT, frozen_copy
from ..ppo.critic import ValueModel, completion_values
from ..ppo.gae import gae
from ..ppo.kl_reward import kl_penalized_rewards
from ..ppo.value_loss import clipped_value_loss, critic_metrics
from ..rewards import outcome_reward, step_rewards
from ..task import Problem
from .config import LabGRPOConfig, LabPPOConfig
from .reward_models.scores import model_outcome_scores, model_step_scores
from .runs import Checkpoints, TrainingState
from .scale import World, fast, local_counts, per_prompt_sampler
from .variants import credit, variants


@dataclass(frozen=True)
class Recipe:
    """What each step of the loop calls, resolved from the config once."""

    sample: Callable  # (policy, problems, generator, sampler) -> Group                                 step 1
    logprobs: Callable  # (model, group) -> log-probs [B, G, T]
    advantages: Callable  # (policy, group, rewards, ref_logp, generator) -> (what was maximized, adv [B, G, T])  2-3
    ratio: Callable  # (logp, group) -> [B, G, T]                                                       step 4
    surrogate: Callable  # (ratio, adv) -> [B, G, T]                                                    step 4
    objective: Callable  # (surrogate, kl, logp, group, ref_logp) -> J                                 steps 5-6
    resets_reference: Callable  # step -> True where Algorithm 1 starts an iteration: pi_ref <- pi_theta
    metrics: Callable  # (group, scores) -> the switches' own numbers for the step's record


def recipe(cfg: LabGRPOConfig | LabPPOConfig, world: World, reward_model: ValueModel | None = None,
           critic: Critic | None = None) -> Recipe:
    """Resolve every switch of ``cfg`` into the function its step calls (PPO: ``critic`` gives the advantages)."""
    sample = fast.sample_group if cfg.fast else step1_sampling.sample_group
    logprobs = fast.group_logprobs if cfg.fast else step1_sampling.group_logprobs
    if critic is not None:
        return Recipe(
            sample=partial(_sample, sample, cfg), logprobs=partial(_logprobs, logprobs, cfg.temperature),
            advantages=critic.advantages, ratio=_token_ratio, surrogate=partial(_paper_surrogate, cfg.clip_eps),
            objective=_ppo_objective, resets_reference=partial(_iteration_starts, 0), metrics=critic.metrics)
    return Recipe(
        sample=partial(_sample, sample, cfg), logprobs=partial(_logprobs, logprobs, cfg.temperature),
        advantages=_grpo_advantages(cfg, world, reward_model),
        ratio=_sequence_ratio if cfg.ratio_level == "sequence" else _token_ratio,
        surrogate=(partial(variants.clip_higher_surrogate, clip_eps=cfg.clip_eps, clip_eps_high=cfg.clip_eps_high)
                   if cfg.clip_eps_high else partial(_paper_surrogate, cfg.clip_eps)),
        objective=(partial(_paper_objective, cfg.kl_coef)
                   if (cfg.kl_estimator, cfg.aggregation, world.torchrun) == ("k3", "grpo", False)
                   else partial(_variant_objective, cfg, world)),
        resets_reference=partial(_iteration_starts, cfg.ref_reset_every),
        metrics=partial(_and_learned_reward if reward_model is not None else _reward_components, cfg))


def _sample(sample, cfg, policy, problems, generator, sampler):
    return sample(policy, problems, cfg.group_size, cfg.max_new_tokens, cfg.temperature, generator, sampler)


def _logprobs(logprobs, temperature, model, group):
    return logprobs(model, group, temperature)


def _iteration_starts(every, step):
    return every > 0 and (step - 1) % every == 0


def _token_ratio(logp, group):
    return probability_ratio(logp, group.old_logp)


def _sequence_ratio(logp, group):
    return variants.sequence_ratio(logp, group.old_logp, group.mask)


def _paper_surrogate(clip_eps, ratio, adv):
    return clipped_surrogate(ratio, adv, clip_eps)


def _paper_objective(kl_coef, surrogate, kl, logp, group, ref_logp):
    return grpo_objective(surrogate, kl, group.mask, kl_coef)


def _ppo_objective(surrogate, kl, logp, group, ref_logp):
    return aggregate(surrogate, group.mask)  # no KL term: PPO's KL is in its reward


def _variant_objective(cfg, world, surrogate, kl, logp, group, ref_logp):
    counts = world.sum(local_counts(group.mask)).tolist() if world.torchrun else None  # the whole batch's
    return variants.objective(surrogate, logp, group.old_logp, ref_logp, group.mask, cfg, counts, world.size)


def _grpo_advantages(cfg: LabGRPOConfig, world: World, reward_model: ValueModel | None) -> Callable:
    """Steps 2-3 under the switches: (policy, group, rewards, ref_logp, generator) -> (scores, adv [B, G, T]), each
    part chosen here, once. ``scores``: what GRPO maximized (the verifier's rewards, unless a learned model or the
    random control scores)."""
    if cfg.supervision == "monte_carlo":  # VinePPO: A = change of a sampled value across each step
        return torch.no_grad()(partial(_vineppo_advantages, cfg))
    if cfg.supervision == "process":
        score = partial(_learned_steps, reward_model) if reward_model is not None else _verified_steps
        relabel = partial(_noisy_labels, cfg.step_label_noise) if cfg.step_label_noise else _labels_as_scored
        rescale = credit.mean_over_steps if cfg.process_scale == "mean" else _process_sum
        return torch.no_grad()(partial(_process_advantages, cfg.adv_eps, score, relabel, rescale))
    score = (partial(_learned_outcomes, reward_model) if reward_model is not None
             else partial(_random_outcomes, cfg.random_reward) if cfg.random_reward else _verified_outcomes)
    paper_step3 = (cfg.baseline, cfg.adv_scale, cfg.multi_reward_norm, cfg.reward_weights,
                   cfg.kl_estimator == "k1_reward") == ("mean", "group", "sum", {"correct": 1.0}, False)
    normalize = (partial(_group_normalized, cfg.adv_eps) if paper_step3
                 else partial(_variant_normalized, cfg, world.std))
    return torch.no_grad()(partial(_outcome_advantages, score, normalize))


def _vineppo_advantages(cfg, policy, group, rewards, ref_logp, generator):
    adv = credit.monte_carlo_step_advantages(policy, group, rewards, cfg.mc_samples, cfg.max_new_tokens,
                                             cfg.temperature, generator)
    return rewards, whiten(adv, group.mask, center=False)  # one scale for the batch; a 0 stays 0


def _process_advantages(eps, score, relabel, rescale, policy, group, rewards, ref_logp, generator):
    step_r, step_ends, step_mask = score_steps(step_rewards, group)  # 2, per step
    step_r, scores = score(group, rewards, step_r, step_ends, step_mask)
    step_r = relabel(step_r, step_mask, generator)
    adv = process_advantages(step_r, step_ends, step_mask, group.mask.shape[-1], eps)  # 3, process
    return scores, rescale(adv, step_mask)


def _verified_steps(group, rewards, step_r, step_ends, step_mask):
    return step_r, rewards


def _learned_steps(model, group, rewards, step_r, step_ends, step_mask):  # each step scored by a learned PRM
    step_r = model_step_scores(model, group, step_ends, step_mask)
    return step_r, step_r[step_mask]


def _labels_as_scored(step_r, step_mask, generator):
    return step_r


def _noisy_labels(p, step_r, step_mask, generator):  # a step verifier that errs
    return credit.flip_step_labels(step_r, step_mask, p, generator)


def _process_sum(adv, step_mask):
    return adv


def _outcome_advantages(score, normalize, policy, group, rewards, ref_logp, generator):
    scores = score(group, rewards, generator)
    return scores, broadcast_to_tokens(normalize(group, scores, ref_logp), group.mask)  # 3: A_{i,t} = A_i


def _verified_outcomes(group, rewards, generator):
    return rewards


def _learned_outcomes(model, group, rewards, generator):  # r_i from a learned ORM
    return model_outcome_scores(model, group)


def _random_outcomes(p, group, rewards, generator):  # the control: r_i drawn at random whatever o_i says
    return variants.random_rewards(rewards, p, generator)


def _group_normalized(eps, group, scores, ref_logp):
    return group_advantages(scores, eps)  # 3


def _variant_normalized(cfg, batch_std, group, scores, ref_logp):
    return variants.advantages(group, scores, cfg, ref_logp, batch_std)


def _reward_components(cfg: LabGRPOConfig, group, scores) -> dict[str, float]:
    return variants.reward_component_means(group, cfg)


def _and_learned_reward(cfg: LabGRPOConfig, group, scores) -> dict[str, float]:
    # what GRPO maximized, next to the verifier's reward_mean: the gap is reward hacking
    return {**variants.reward_component_means(group, cfg), "learned_reward_mean": scores.mean().item()}


class Critic:
    """PPO's critic side of the loop (``ppo/trainer.py``'s lines that GRPO does not have): V, its optimizer, the
    advantages by GAE and the value update after each policy update; and the lab's switches of what V learns from
    (``value_target``, ``value_epochs``, ``critic_init``, ``critic_pretrain_steps``, ``critic_states``)."""

    def __init__(self, policy: GPT, cfg: LabPPOConfig, world: World):
        self.cfg, self.world = cfg, world
        self.model = critic_start(policy, cfg.critic_init)  # V
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.critic_lr, weight_decay=0.0)

    def advantages(self, policy, group, rewards, ref_logp, generator):
        with torch.no_grad():
            token_rewards = kl_penalized_rewards(rewards, group.old_logp, ref_logp, group.mask, self.cfg.kl_coef)
        self.values = completion_values(self.model, group)  # with gradient: the first critic update reuses it
        token_values = self.values.detach()
        if self.cfg.critic_states == "steps":  # variant: V only at the states between steps, GAE over steps
            adv, self.returns, self.index, self.mask = credit.step_gae(token_rewards, token_values, group,
                                                                       self.cfg.gamma, self.cfg.lam)
            if self.cfg.value_target == "monte_carlo":
                self.returns = credit.step_gae(token_rewards, torch.zeros_like(token_values), group,
                                               self.cfg.gamma, 1.0)[1]
        else:
            self.index, self.mask = None, group.mask
            adv, self.returns = gae(token_rewards, token_values, group.mask, self.cfg.gamma, self.cfg.lam)
            if self.cfg.value_target == "monte_carlo":  # lambda = 1 for the critic's targets, lam for the advantages
                self.returns = reward_to_go(token_rewards, group.mask, self.cfg.gamma)
        self.values = self._at_states(self.values)
        self.old_values = self.values.detach()  # V_old, as old_logp is pi_old's
        if self.cfg.whiten_advantages:  # over every process's tokens under torchrun
            adv = whiten(adv, group.mask, mean_std=self.world.mean_std if self.world.torchrun else None)
        return rewards, adv

    def update(self, group, inner: int) -> None:
        for epoch in range(self.cfg.value_epochs):
            if inner > 0 or epoch > 0:
                self.values = self._at_states(completion_values(self.model, group))
            self.value_loss = clipped_value_loss(self.values, self.old_values, self.returns, self.mask,
                                                 self.cfg.value_clip_eps)
            self.optimizer.zero_grad(set_to_none=True)
            self.value_loss.backward()
            self.world.average_gradients(self.model)
            clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            self.optimizer.step()

    def pretrain(self, steps: Recipe, policy, problems, prompt_rng, generator) -> None:
        """``critic_pretrain_steps`` updates on the start policy's completions, each regressing V on Monte Carlo
        returns (the outcome at the last token; pi_theta = pi_ref here, so the KL penalty is 0)."""
        for _ in range(self.cfg.critic_pretrain_steps):
            with torch.no_grad():
                group = steps.sample(policy, prompt_rng.sample(problems, self.cfg.prompts_per_step), generator, None)
                token_rewards = kl_penalized_rewards(score_outcomes(outcome_reward, group), group.old_logp,
                                                     group.old_logp, group.mask, self.cfg.kl_coef)
            values, mask = completion_values(self.model, group), group.mask
            if self.cfg.critic_states == "steps":
                returns, index, mask = credit.step_gae(token_rewards, torch.zeros_like(values), group,
                                                       self.cfg.gamma, 1.0)[1:]
                values = values.gather(-1, index)
            else:
                returns = reward_to_go(token_rewards, group.mask, self.cfg.gamma)
            loss = clipped_value_loss(values, values.detach(), returns, mask, self.cfg.value_clip_eps)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.world.average_gradients(self.model)
            clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            self.optimizer.step()

    def metrics(self, group, scores) -> dict[str, float]:
        return critic_metrics(self.value_loss, self.old_values, self.returns, self.mask)

    def _at_states(self, values: torch.Tensor) -> torch.Tensor:
        """The values the critic is trained on: every token's, or (critic_states "steps") the states' [B, G, S]."""
        return values if self.index is None else values.gather(-1, self.index)


def critic_start(policy: GPT, init: str) -> ValueModel:
    """PPO's critic before training: a copy of the policy ("policy"), random weights ("fresh"), or a copy of the
    GPT in the checkpoint file ``init``, which must read the policy's tokens and hold its sequences."""
    device = next(policy.parameters()).device
    if init == "policy":
        return ValueModel.from_policy(policy)
    if init == "fresh":
        return ValueModel(policy.cfg).to(device)
    body, _ = load_checkpoint(init, device=device)
    if body.cfg.vocab_size != policy.cfg.vocab_size or body.cfg.block_size < policy.cfg.block_size:
        raise ValueError(f"critic_init {init}: its GPT (vocab_size {body.cfg.vocab_size}, block_size "
                         f"{body.cfg.block_size}) cannot read the policy's sequences (vocab_size "
                         f"{policy.cfg.vocab_size}, block_size {policy.cfg.block_size})")
    return ValueModel.from_policy(body)


def reward_to_go(token_rewards, mask, gamma: float):
    """GAE's returns at lambda = 1, the Monte Carlo returns: they do not depend on V, so V = 0 gives them exactly."""
    return gae(token_rewards, torch.zeros_like(token_rewards), mask, gamma, 1.0)[1]


def train(policy: GPT, cfg: LabGRPOConfig | LabPPOConfig, train: list[Problem], test: list[Problem], log=None,
          progress: bool = True, checkpoints: Checkpoints | None = None, reward_model: ValueModel | None = None,
          world: World | None = None) -> ValueModel | None:
    """Run ``cfg.steps`` steps of GRPO (``LabGRPOConfig``) or PPO (``LabPPOConfig``) on ``policy`` in place; returns
    PPO's critic V (None for GRPO). ``log(record)`` gets each step's metrics (process 0 only under torchrun).

    ``checkpoints`` (runs.py) restore a stopped run and save the state to resume from; with or without them, the
    loop stops at the first non-finite loss or gradient norm. ``reward_model`` (loaded from ``cfg.reward_model``)
    scores instead of the verifier, whose rewards are still logged. ``world``: the processes of a torchrun."""
    world = world or World()
    world.check(cfg)
    log = log if world.main and log else (lambda record: None)
    checkpoints = checkpoints or Checkpoints()
    device = next(policy.parameters()).device
    torch.manual_seed(cfg.seed)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    prompt_rng = random.Random(cfg.seed)
    reference = frozen_copy(policy)  # pi_ref
    critic = Critic(policy, cfg, world) if isinstance(cfg, LabPPOConfig) else None
    steps = recipe(cfg, world, reward_model, critic)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0)
    state = TrainingState(policy, reference, optimizer, generator, prompt_rng)
    if critic is not None:
        state.critic, state.critic_optimizer = critic.model, critic.optimizer
    resumed = checkpoints.resume(state)  # --resume: step k's state, as an unstopped run had it
    if not resumed and world.main:
        log({"step": 0, "test_accuracy": greedy_accuracy(policy, test)["accuracy"]})
    world.broadcast_state(state)  # process 0 read the checkpoint; the others start from its state
    if critic is not None and not resumed:
        critic.pretrain(steps, policy, train, prompt_rng, generator)

    name = "grpo" if critic is None else "ppo"
    bar = tqdm(range(state.step + 1, cfg.steps + 1), desc=name, disable=not (progress and world.main))
    for step in bar:
        if steps.resets_reference(step):  # a new iteration of Algorithm 1: pi_ref <- pi_theta
            reference.load_state_dict(policy.state_dict())
        start = time.perf_counter()
        problems, first = world.shard(prompt_rng.sample(train, cfg.prompts_per_step))  # this process's 1/R
        sampler = per_prompt_sampler(world, cfg, step, first, len(problems), device)  # None in one process
        with torch.no_grad():  # pi_old <- pi_theta: the sampling log-probs are pi_old's
            group = steps.sample(policy, problems, generator, sampler)  # 1
            rewards = score_outcomes(outcome_reward, group)  # 2
            ref_logp = steps.logprobs(reference, group)  # for 5
        scores, adv = steps.advantages(policy, group, rewards, ref_logp, generator)  # 2-3 (PPO: critic and GAE)

        clip_fracs = []
        for inner in range(cfg.num_inner_steps):
            logp = steps.logprobs(policy, group)
            ratio = steps.ratio(logp, group)  # 4
            surrogate = steps.surrogate(ratio, adv)  # 4
            kl = kl_k3(logp, ref_logp)  # 5
            objective = steps.objective(surrogate, kl, logp, group, ref_logp)  # 6
            optimizer.zero_grad(set_to_none=True)
            (-objective).backward()
            world.average_gradients(policy)  # every process steps with the whole batch's gradient
            grad_norm = clip_grad_norm_(policy.parameters(), cfg.grad_clip)
            optimizer.step()
            clip_fracs.append(clip_fraction(ratio.detach(), adv, surrogate.detach(), group.mask))
            if critic is not None:
                critic.update(group, inner)  # the value loss, after the policy's update

        record = {"step": step, **step_metrics(rewards, adv, group.mask, kl, clip_fracs, objective, grad_norm,
                                               group.entropy), **steps.metrics(group, scores),
                  "wall_s": time.perf_counter() - start}
        record = world.mean_metrics(record)  # each metric averaged over processes
        if world.main and (step % cfg.eval_every == 0 or step == cfg.steps):
            record["test_accuracy"] = greedy_accuracy(policy, test)["accuracy"]
        log(record)
        checkpoints.step_done(record, state)  # stops at a non-finite loss or gradient norm; saves every few steps
        bar.set_postfix(reward=f"{record['reward_mean']:.2f}", acc=record.get("test_accuracy", "-"))
    return critic.model if critic else None
