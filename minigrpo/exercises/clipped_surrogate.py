"""Exercise: step 4, PPO's clipped surrogate per token (DeepSeekMath Eq. 1 and 3).

    min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)

for both signs of A: with A > 0 the gradient stops above 1 + eps, with A < 0 below 1 - eps.
Grade it: python -m pytest tests/test_step4_ratio_clip.py --student clipped_surrogate
"""

from __future__ import annotations

import torch

from minigrpo.grpo.step4_ratio_clip import check_surrogate_inputs


def clipped_surrogate(ratio: torch.Tensor, adv: torch.Tensor, clip_eps: float) -> torch.Tensor:
    """min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A) per token: [B, G, T] and [B, G, T] -> [B, G, T]."""
    check_surrogate_inputs(ratio, adv, clip_eps=clip_eps)
    raise NotImplementedError("exercise: write the clipped surrogate here (and delete this line)")
