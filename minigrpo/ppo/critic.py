"""The critic (value model): V(q, o_<t), the expected final reward from the state before token t.

A separate network from the policy, as in InstructGPT-style PPO: a copy of the warm-start
GPT whose vocabulary head is replaced by a scalar head. Separate weights mean a
second model's parameters, gradients and optimizer state in memory, and a second forward
and backward pass per update: the cost GRPO avoids by using the group mean as baseline.

``ValueModel`` is the one GPT-with-a-scalar-head of the project: the lab's learned reward models are the same
network, read as a logit ("will this be right?") instead of a value.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from ..config import ModelConfig
from ..grpo.step1_sampling import Group
from ..model import GPT, states_before_each_token


class ValueModel(nn.Module):
    """GPT body + linear scalar head. ``ValueModel(cfg)`` is fresh; ``ValueModel.from_policy(gpt)`` copies a policy."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.body = GPT(cfg)
        self.head = nn.Linear(cfg.n_embd, 1)
        # Zero head: every value starts at 0 (the first advantages are plain reward-to-go), every reward model's
        # score at sigmoid(0) = 1/2, "don't know", whatever the body computes.
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @classmethod
    def from_policy(cls, policy: GPT) -> ValueModel:
        like = next(policy.parameters())
        critic = cls(policy.cfg).to(device=like.device, dtype=like.dtype)
        critic.body = copy.deepcopy(policy).train()
        critic.body.requires_grad_(True)
        return critic

    def forward(self, tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """tokens, valid [N, L] -> [N, L]: one number per prefix (a value, or a reward model's logit)."""
        return self.head(self.body.hidden_states(tokens, valid)).squeeze(-1)


def completion_values(critic: ValueModel, group: Group) -> torch.Tensor:
    """V(q, o_{i,<t}) for every completion token, read where the policy's logits are: [B, G, T]."""
    B, G, T = group.completions.shape
    tokens, valid, states = states_before_each_token(
        group.prompt.flatten(0, 1), group.prompt_valid.flatten(0, 1), group.completions.flatten(0, 1)
    )
    return critic(tokens, valid)[:, states].reshape(B, G, T)
