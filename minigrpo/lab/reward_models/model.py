"""A learned reward model: the policy's GPT with a scalar head that reads "will this be right?" off a text.

GRPO only needs a number per completion or per step (step 2); a verifier, a learned model or a judge can
supply it. A reward model learns to predict the verifier's verdict from examples, and, unlike the verifier,
can be wrong in ways a policy may learn to exploit. Both kinds here are classifiers trained with the binary
cross-entropy of Math-Shepherd (Wang et al. 2024, arXiv:2312.08935, Sec. 3.1):

Outcome reward model (ORM), one score per completion, read at its last token (the <eos>):
    r_phi(q, o) = sigmoid(s_phi(q, o)),   L_ORM = -[y log r_phi + (1 - y) log(1 - r_phi)]       (Eq. 1)
    y = 1 if the verifier finds the final answer right, else 0.
Process reward model (PRM), one score per step j, read at the step's last token index(j):
    r_phi^j = sigmoid(s_phi(q, o_{<=index(j)})),
    L_PRM = -sum_j [y_j log r_phi^j + (1 - y_j) log(1 - r_phi^j)]                              (Eq. 2)
    y_j from continuations sampled after step j (``labels.py``, Math-Shepherd Sec. 3.3).

``s_phi`` is the logit the head writes at a position; the model sees the prompt and the completion up to
that position only (causal attention), so a step's score cannot look at the steps after it. ``load_reward_model``
loads a trained one, frozen, for ``grpo --reward-model``.

Deviations from Math-Shepherd: the loss is averaged over labeled positions rather than summed (a constant
scale, which AdamW largely cancels); the PRM is trained from the warm start, as the critic is, not from a
larger model; and soft labels y_j in [0, 1] are used in the same cross-entropy (their expected loss is
minimized by r = y).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ... import checks
from ...checkpoint import load_checkpoint
from ...ppo.critic import ValueModel
from ..config import LabGRPOConfig

KINDS = ("outcome", "process")


def score_logits(model: ValueModel, prompt: torch.Tensor, prompt_valid: torch.Tensor, completion: torch.Tensor,
                 mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """s_phi read after completion token ``positions`` [N, S] (indices into the completion), in one pass.

    prompt, prompt_valid [N, P] (left-padded), completion, mask [N, T] -> logits [N, S]. Padding after the
    <eos> is marked invalid, so it is never attended to; read only at positions of real tokens.
    """
    checks.tensor("positions", positions, "[N, S]", "int")
    N, T = completion.shape
    if positions.shape[0] != N or (positions.numel() and (positions.min() < 0 or positions.max() >= T)):
        raise ValueError(f"positions must be [N = {N}, S] token indices in [0, {T}), got shape "
                         f"{tuple(positions.shape)}")
    tokens = torch.cat([prompt, completion], dim=1)  # [N, P + T]
    valid = torch.cat([prompt_valid, mask], dim=1)
    logits = model(tokens, valid)[:, prompt.shape[1]:]  # [N, T]: after completion token t
    return logits.gather(1, positions)


def reward_model_loss(logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Math-Shepherd Eq. 1 / Eq. 2 averaged over labeled positions: logits, labels in [0, 1], weight (1 on a
    labeled position, 0 elsewhere) all [N, S] -> the mean binary cross-entropy, a scalar."""
    if not (logits.shape == labels.shape == weight.shape):
        raise ValueError(f"logits, labels and weight must have one shape, got {tuple(logits.shape)}, "
                         f"{tuple(labels.shape)}, {tuple(weight.shape)}")
    if not torch.isfinite(labels).all() or labels.min() < 0 or labels.max() > 1:
        raise ValueError("labels must be finite numbers in [0, 1]")
    bce = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), reduction="none")
    return torch.where(weight > 0, bce * weight, 0.0).sum() / weight.sum().clamp(min=1)


def load_reward_model(cfg: LabGRPOConfig, device) -> ValueModel:
    """The frozen reward model of ``--reward-model``, refused in one line unless it is of the supervision's kind."""
    model, meta = load_checkpoint(cfg.reward_model, device=device, build=ValueModel)
    if meta.get("kind") != cfg.supervision:
        raise ValueError(f"--reward-model {cfg.reward_model} is a {meta.get('kind')} reward model; "
                         f"--supervision {cfg.supervision} needs one of kind {cfg.supervision!r}")
    return model.eval().requires_grad_(False)
