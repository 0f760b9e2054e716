"""The GRPO loop (DeepSeekMath Algorithm 1).

    pi_ref <- frozen copy of the warm start
    for each step:
        (every K steps, optional: pi_ref <- pi_theta)                (iterative GRPO)
        pi_old <- pi_theta
        sample B prompts; G completions each from pi_old             (step 1)
        score them: outcome rewards, or per-step rewards              (step 2)
        advantages: group-normalized outcome, or process             (step 3 / step 6)
        repeat mu times: maximize J(theta) = clipped surrogate        (step 4)
                                             - beta * KL to pi_ref   (step 5)

The README's pseudocode is this loop, line for line. The variants of issue #5 are
config switches (GRPOConfig); each one enters here at a line tagged ``# variant:``.
Without them (the defaults) this is DeepSeekMath's GRPO.
"""

from __future__ import annotations

import copy
import random
import time

import torch
from tqdm.auto import tqdm

from ..config import GRPOConfig, parse_reward_weights
from ..evaluate import greedy_accuracy
from ..model import GPT
from ..rewards import COMPONENTS, outcome_reward, step_rewards
from ..task import Problem
from .multi_reward import combined_advantages, gdpo_advantages
from .objective import grpo_objective, masked_completion_mean
from .step1_sampling import Group, group_logprobs, sample_group
from .step2_reward import score_outcomes, score_steps
from .step3_group_norm import broadcast_to_tokens
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
    weights = parse_reward_weights(cfg.reward_weights)
    options = objective_options(cfg)
    log = log or (lambda record: None)
    log({"step": 0, "test_accuracy": greedy_accuracy(policy, test)["accuracy"]})

    bar = tqdm(range(1, cfg.steps + 1), desc="grpo", disable=not progress)
    for step in bar:
        if cfg.ref_reset_every and step > 1 and (step - 1) % cfg.ref_reset_every == 0:
            reference.load_state_dict(policy.state_dict())  # variant: iterative GRPO (Algorithm 1)
        start = time.perf_counter()
        clock = PhaseClock(device)
        problems = prompt_rng.sample(train, cfg.prompts_per_step)
        with torch.no_grad():
            group = sample_group(policy, problems, cfg.group_size, cfg.max_new_tokens, cfg.temperature, generator)  # 1
            clock.lap("sample_s")
            rewards = score_outcomes(outcome_reward, group)  # 2
            if cfg.supervision == "outcome":
                components = reward_components(group, rewards, weights)  # 2, [B, G, K]: K = 1 by default
                adv = broadcast_to_tokens(outcome_advantages(components, weights, cfg), group.mask)  # 3
            else:
                step_r, step_ends, step_mask = score_steps(step_rewards, group)  # 2 (per step)
                adv = process_advantages(step_r, step_ends, step_mask, group.mask.shape[-1], cfg.adv_eps)  # 6
            clock.lap("score_s")
            ref_logp = group_logprobs(reference, group, cfg.temperature) if reference else None  # for 5
            clock.lap("ref_s")

        clip_fracs = []
        for _ in range(cfg.num_inner_steps):
            logp = group_logprobs(policy, group, cfg.temperature)
            objective = grpo_objective(  # 4 + 5
                logp, group.old_logp, ref_logp, adv, group.mask, cfg.kl_coef, cfg.clip_eps, **options
            )
            optimizer.zero_grad(set_to_none=True)
            (-objective).backward()
            clip_fracs.append(clip_fraction(logp.detach(), group.old_logp, adv, group.mask, cfg.clip_eps,
                                            options["clip_eps_high"], options["ratio_level"]))
            clock.lap("fwd_bwd_s")
            grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
            optimizer.step()
            clock.lap("opt_s")

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
        }
        if cfg.supervision == "outcome":  # the other components' means (reward_mean is "correct")
            record.update({f"reward_{name}": components[..., k].mean().item()
                           for k, name in enumerate(weights) if name != "correct"})
        record.update(clock.seconds)
        record["wall_s"] = time.perf_counter() - start
        if step % cfg.eval_every == 0 or step == cfg.steps:
            record["test_accuracy"] = greedy_accuracy(policy, test)["accuracy"]
        log(record)
        bar.set_postfix(reward=f"{record['reward_mean']:.2f}", acc=record.get("test_accuracy", "-"))
    return policy


def reward_components(group: Group, rewards: torch.Tensor, weights: dict[str, float]) -> torch.Tensor:
    """r_{i,k} for each named component k of ``weights``: [B, G, K] (``rewards`` [B, G] is "correct")."""
    # variant: multi-reward, the components are named in cfg.reward_weights
    scored = [rewards if name == "correct" else score_outcomes(COMPONENTS[name], group) for name in weights]
    return torch.stack(scored, dim=-1)


def outcome_advantages(components: torch.Tensor, weights: dict[str, float], cfg: GRPOConfig) -> torch.Tensor:
    """Step 3 with its switches: component rewards [B, G, K] -> one advantage per completion [B, G]."""
    w = torch.tensor(list(weights.values()), dtype=components.dtype, device=components.device)
    if cfg.multi_reward_norm == "gdpo":  # variant: GDPO, each component normalized in its group first
        return gdpo_advantages(components, w, cfg.adv_eps)
    # variant: baseline (group mean or RLOO's leave-one-out) and scale (group std, batch std, or none: Dr. GRPO)
    return combined_advantages(components, w, cfg.adv_eps, baseline=cfg.baseline, scale=cfg.adv_scale)


def objective_options(cfg: GRPOConfig) -> dict:
    """The switches of J(theta) (objective.py): keyword arguments of ``grpo_objective``."""
    return {
        "clip_eps_high": cfg.clip_eps_high or None,  # variant: clip-higher (DAPO); 0 means symmetric
        "aggregation": cfg.aggregation,  # variant: loss aggregation (DeepSeekMath Eq. 3, DAPO, Dr. GRPO)
        "max_len": cfg.max_new_tokens,  # Dr. GRPO's constant: the generation budget
        "ratio_level": cfg.ratio_level,  # variant: GSPO's one ratio per completion
    }


class PhaseClock:
    """Seconds spent in each phase of a step, summed when a phase repeats (the mu inner steps)."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.seconds: dict[str, float] = {}
        self.last = self._now()

    def _now(self) -> float:
        if self.cuda:  # GPU work is queued: wait for it, or its time lands in a later phase
            torch.cuda.synchronize()
        return time.perf_counter()

    def lap(self, phase: str) -> None:
        now = self._now()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self.last
        self.last = now


def mean_kl(logp, ref_logp, mask) -> float:
    """Mean per-token k3 KL to pi_ref (0 when there is no reference)."""
    if ref_logp is None:
        return 0.0
    return masked_completion_mean(kl_k3(logp, ref_logp), mask).mean().item()
