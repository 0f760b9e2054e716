"""Exercise: the loss of a reward model (Math-Shepherd Eq. 1 for an ORM, Eq. 2 for a PRM).

    L = mean over labeled positions of  -[y log sigma(s) + (1 - y) log(1 - sigma(s))]

with s the model's logit at a position and y its label in [0, 1] (0/1, or a soft fraction). Positions whose
weight is 0 are padding: they must not count, whatever logit or label sits there.
Grade it: make exercise NAME=reward_model_loss. It grades runs/exercises/reward_model_loss.py, your copy of
the template minigrpo/lab/exercises/reward_model_loss.py, made the first time: edit the copy, never the template.
"""

from __future__ import annotations

import torch


def reward_model_loss(logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """logits, labels, weight all [N, S] -> the mean binary cross-entropy over labeled positions, a scalar."""
    if not (logits.shape == labels.shape == weight.shape):
        raise ValueError(f"logits, labels and weight must have one shape, got {tuple(logits.shape)}, "
                         f"{tuple(labels.shape)}, {tuple(weight.shape)}")
    if not torch.isfinite(labels).all() or labels.min() < 0 or labels.max() > 1:
        raise ValueError("labels must be finite numbers in [0, 1]")
    raise NotImplementedError("exercise: write the loss here (and delete this line)")
