"""Exercise: step 3 with process supervision (DeepSeekMath Sec. 4.1.3).

    r~_j = (r_j - mean(R)) / (std(R) + eps)       R: every step reward of the prompt's G completions
    A_{i,t} = sum of r~_j over the steps j of o_i with index(j) >= t

so a token gets the normalized rewards of its own step and of every later one. normalize_step_rewards
(imported below) does the first line; write the second.
Grade it: make exercise NAME=process_advantages. It grades runs/exercises/process_advantages.py, your copy of
the template minigrpo/lab/exercises/process_advantages.py, made the first time: edit the copy, never the template.
"""

from __future__ import annotations

import torch

from minigrpo import checks
from minigrpo.grpo.step3_process_advantages import normalize_step_rewards


def process_advantages(step_rewards: torch.Tensor, step_ends: torch.Tensor, step_mask: torch.Tensor, T: int,
                       eps: float = 1e-4) -> torch.Tensor:
    """step_rewards, step_ends, step_mask [B, G, S] -> adv [B, G, T].

    step_ends holds index(j), the token index in [0, T) where step j ends.
    """
    checks.inputs(locals(), step_rewards="float [B, G, S]", step_ends="int [B, G, S] in [0, T)",
                  step_mask="bool [B, G, S]", T="int >= 1", eps=">= 0")
    normalized = normalize_step_rewards(step_rewards, step_mask, eps)  # noqa: F841 (given: [B, G, S], 0 on padded steps)
    raise NotImplementedError("exercise: sum the normalized rewards of the steps ending at or after t")
