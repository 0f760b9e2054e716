"""Exercise: step 4, PPO's clipped surrogate per token (DeepSeekMath Eq. 1 and 3).

    min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)

for both signs of A: with A > 0 the gradient stops above 1 + eps, with A < 0 below 1 - eps.
Grade it: make exercise NAME=clipped_surrogate. It grades runs/exercises/clipped_surrogate.py, your copy of
the template minigrpo/lab/exercises/clipped_surrogate.py, made the first time: edit the copy, never the template.
"""

from __future__ import annotations

import torch

from minigrpo import checks


def clipped_surrogate(ratio: torch.Tensor, adv: torch.Tensor, clip_eps: float) -> torch.Tensor:
    """min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A) per token: [B, G, T] and [B, G, T] -> [B, G, T]."""
    checks.inputs(locals(), ratio="float [..., T]", adv="float [..., T]", clip_eps=">= 0")
    raise NotImplementedError("exercise: write the clipped surrogate here (and delete this line)")
