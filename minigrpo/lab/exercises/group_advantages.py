"""Exercise: step 3, the group-normalized advantage (DeepSeekMath Sec. 4.1.2).

    A_i = (r_i - mean(r_1..r_G)) / (std(r_1..r_G) + eps)      one advantage per completion

std is the sample std (divide by G - 1), eps is added to it, and a group whose rewards are all
equal gets exactly 0 (no signal, and no 1e-13 left over by rounding).
Grade it: make exercise NAME=group_advantages. It grades runs/exercises/group_advantages.py, your copy of
the template minigrpo/lab/exercises/group_advantages.py, made the first time: edit the copy, never the template.
"""

from __future__ import annotations

import torch

from minigrpo import checks


def group_advantages(rewards: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """rewards [B, G] -> normalized advantages [B, G] (one per completion); G >= 2: one alone has no baseline."""
    checks.inputs(locals(), rewards="float [B, G >= 2]", eps=">= 0")
    raise NotImplementedError("exercise: write A_i here (and delete this line)")
