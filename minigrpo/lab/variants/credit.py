"""Credit per step beyond the paper's two supervisions: sampled step values, outcome-sized process
advantages, and noisy step labels. Each is one config switch; the trainer tags its line ``# variant:``.

Monte Carlo step advantages (VinePPO, Kazemnejad et al. 2024, arXiv:2410.01679, Sec. 4)  --supervision monte_carlo
    s_0 .. s_n: the states between the steps of o_i (before the first token, after each step)
    A_{i,t} = V_MC(s_{j+1}) - V_MC(s_j)   for the tokens t of step j,   V_MC(s_n) = r_i
    V_MC(s) = mean outcome of K continuations sampled from s (``prefix_values.monte_carlo_values``)
The advantages telescope: summed over the steps of o_i they give r_i - V_MC(q), GRPO's numerator
with a K-sample baseline, split where the chance of success changed. That is what PPO's critic
learns to estimate; VinePPO samples it instead, at the price of K continuations per state.
VinePPO keeps PPO's loss. The trainer divides these advantages by their std over the batch's
tokens (``masked.whiten`` without centering), so their scale matches the other methods' while a
step that did not change the chance of success keeps exactly 0 and every step keeps its sign.

Process advantages at outcome size                                 --process-scale mean
    A_{i,t} = 1/n_i sum_{index(j) >= t} \\tilde r_i^{index(j)},   n_i = steps of o_i
The paper's sum (step 3, process) gives a completion's first tokens up to n_i normalized rewards,
about n_i times an outcome advantage; dividing by n_i brings it to that size. Adam makes the
optimizer step nearly scale-free, so what the scale changes is the balance with beta KL and how
often the gradient clip bites.

A critic at the states between steps (PPO)                          --critic-states steps
    s_0 .. s_{n-1}: the states before each step of o_i, at token indices b_0 = 0 < b_1 < ... < b_{n-1}
    R_j = sum_{b_j <= t < b_{j+1}} r_t       (the step's token rewards: its KL penalties, the outcome at the end)
    delta_j = R_j + gamma V(s_{j+1}) - V(s_j),   V(s_n) = 0,   A_j = sum_{l >= 0} (gamma lambda)^l delta_{j+l}
    A_{i,t} = A_j for the tokens t of step j;    the critic regresses on R_j^GAE = A_j + V(s_j) at the states only
PPO's GAE with steps for time steps: the critic is asked for values only where a step has just ended, the states
the localization yardstick reads, and lambda decays per step instead of per token. VinePPO's credit with a learned
value instead of a sampled one.

Noisy step labels                                                   --step-label-noise p
    r_i^{index(j)} <- 1 - r_i^{index(j)} with probability p, independently per step
A step verifier that errs: what process supervision is worth when the steps cannot be scored reliably.
"""

from __future__ import annotations

import math

import torch

from ... import checks
from ...grpo.step1_sampling import Group
from ...model import GPT
from ...ppo.gae import gae
from ...prefix_values import monte_carlo_values, step_boundaries


def step_value_advantages(boundaries: list[int], values: list[float], T: int) -> torch.Tensor:
    """One completion: A_t = values[j + 1] - values[j] for boundaries[j] <= t < boundaries[j + 1]; [T], 0 after."""
    T = checks.integer("T", T, low=1)
    if (not boundaries or len(values) != len(boundaries) or boundaries != sorted(set(boundaries))
            or boundaries[0] < 0 or boundaries[-1] > T):
        raise ValueError(f"need one value per state and increasing states within [0, {T}], got "
                         f"{len(values)} values at {boundaries}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"state values must be finite, got {values}")
    adv = torch.zeros(T)
    for j in range(len(boundaries) - 1):
        adv[boundaries[j]:boundaries[j + 1]] = values[j + 1] - values[j]
    return adv


@torch.no_grad()
def monte_carlo_step_advantages(policy: GPT, group: Group, rewards: torch.Tensor, K: int, max_new_tokens: int,
                                temperature: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """VinePPO's A_{i,t} for every completion of the group: rewards [B, G] -> advantages [B, G, T]."""
    if not isinstance(group, Group):
        raise TypeError(f"group must be a Group (from sample_group), got {type(group).__name__}")
    checks.tensor("rewards", rewards, "[B, G]", "float")
    if rewards.shape != group.mask.shape[:2]:
        raise ValueError(f"rewards {tuple(rewards.shape)} must be [B, G] of the group's mask {tuple(group.mask.shape)}")
    checks.finite("rewards", rewards)
    checks.integer("K", K, low=1)
    checks.integer("max_new_tokens", max_new_tokens, low=1)
    checks.number("temperature", temperature, low=0, low_open=True)
    B, G, T = group.mask.shape
    lengths = group.mask.sum(-1).tolist()
    states = {(b, g): step_boundaries(group.texts[b][g], lengths[b][g]) for b in range(B) for g in range(G)}
    keys = [(b, g, t) for (b, g), bounds in states.items() for t in bounds[:-1]]  # s_n is scored, not sampled
    values, _ = monte_carlo_values(policy, [group.problems[b] for b, _, _ in keys],
                                   [group.completions[b, g, :t].tolist() for b, g, t in keys], K, max_new_tokens,
                                   temperature, generator)
    value_at = dict(zip(keys, values.tolist()))
    adv = torch.stack([
        step_value_advantages(bounds, [value_at[b, g, t] for t in bounds[:-1]] + [rewards[b, g].item()], T)
        for (b, g), bounds in states.items()
    ])
    return adv.view(B, G, T).to(group.mask.device)


def step_states(group: Group) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The states before each step of every completion: (index [B, G, S], the token index b_j of state s_j;
    state_mask [B, G, S], True on each completion's n_i states; step_of [B, G, T], the step j of each token)."""
    B, G, T = group.mask.shape
    lengths = group.mask.sum(-1).tolist()
    bounds = [step_boundaries(group.texts[b][g], lengths[b][g])[:-1] for b in range(B) for g in range(G)]
    S = max(len(starts) for starts in bounds)
    index = torch.zeros(B * G, S, dtype=torch.long)
    step_of = torch.zeros(B * G, T, dtype=torch.long)
    for n, starts in enumerate(bounds):
        index[n, :len(starts)] = torch.tensor(starts)
        for start in starts[1:]:  # every token at or after a step's first token belongs to that step or a later one
            step_of[n, start:] += 1
    state_mask = torch.arange(S)[None, :] < torch.tensor([len(starts) for starts in bounds])[:, None]
    device = group.mask.device
    return (index.view(B, G, S).to(device), state_mask.view(B, G, S).to(device),
            step_of.view(B, G, T).to(device))


def step_gae(token_rewards: torch.Tensor, values: torch.Tensor, group: Group, gamma: float, lam: float,
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """GAE over steps: token_rewards, values [B, G, T] (V before each token) -> (token advantages [B, G, T], the
    critic's returns at the states [B, G, S], index [B, G, S] and state_mask [B, G, S] of ``step_states``)."""
    checks.tensor("token_rewards", token_rewards, "[B, G, T]", "float")
    checks.tensor("values", values, "[B, G, T]", "float")
    if token_rewards.shape != group.mask.shape or values.shape != group.mask.shape:
        raise ValueError(f"token_rewards {tuple(token_rewards.shape)} and values {tuple(values.shape)} must be the "
                         f"group's [B, G, T] {tuple(group.mask.shape)}")
    index, state_mask, step_of = step_states(group)
    step_rewards = torch.zeros(state_mask.shape, dtype=token_rewards.dtype, device=token_rewards.device)
    step_rewards.scatter_add_(-1, step_of, torch.where(group.mask, token_rewards, 0.0))  # R_j
    state_values = torch.where(state_mask, values.gather(-1, index), 0.0)  # V(s_j)
    adv, returns = gae(step_rewards, state_values, state_mask, gamma, lam)
    return torch.where(group.mask, adv.gather(-1, step_of), 0.0), returns, index, state_mask


def mean_over_steps(adv: torch.Tensor, step_mask: torch.Tensor) -> torch.Tensor:
    """Process advantages at outcome size: adv [B, G, T] / n_i, n_i = real steps of o_i in step_mask [B, G, S]."""
    checks.tensor("adv", adv, "[B, G, T]", "float")
    checks.tensor("step_mask", step_mask, "[B, G, S]", "bool")
    if adv.shape[:2] != step_mask.shape[:2]:
        raise ValueError(f"adv {tuple(adv.shape)} and step_mask {tuple(step_mask.shape)} must match in [B, G]")
    return adv / step_mask.sum(-1, keepdim=True).clamp(min=1)


def flip_step_labels(step_rewards: torch.Tensor, step_mask: torch.Tensor, p: float,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """0/1 step rewards [B, G, S] with each real step's flipped to 1 - r with probability p."""
    checks.tensor("step_rewards", step_rewards, "[B, G, S]", "float")
    checks.tensor("step_mask", step_mask, "[B, G, S]", "bool")
    if step_rewards.shape != step_mask.shape:
        raise ValueError(f"step_rewards {tuple(step_rewards.shape)} and step_mask {tuple(step_mask.shape)} must match")
    checks.number("p", p, low=0, high=1)
    if not ((step_rewards == 0) | (step_rewards == 1)).all():
        raise ValueError("flip_step_labels needs 0/1 step rewards")
    device = generator.device if generator is not None else step_rewards.device
    flips = torch.rand(step_rewards.shape, generator=generator, device=device).to(step_rewards.device) < p
    return torch.where(flips & step_mask, 1 - step_rewards, step_rewards)
