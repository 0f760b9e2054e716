"""Exercise: step 6, the GRPO objective J(theta) (DeepSeekMath Eq. 3).

    J = 1/G sum_i 1/|o_i| sum_t { surrogate_{i,t} - beta * KL_{i,t} }      then the mean over prompts

Only the real tokens of each completion count (mask True); padding must not enter any sum or count.
Grade it: make exercise NAME=grpo_objective. It grades runs/exercises/grpo_objective.py, your copy of
the template minigrpo/lab/exercises/grpo_objective.py, made the first time: edit the copy, never the template.
"""

from __future__ import annotations

import torch

from minigrpo.grpo.step6_objective import check_objective_inputs


def grpo_objective(surrogate: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """J(theta), a scalar, from the per-token surrogate (step 4) and KL (step 5): all [B, G, T]."""
    check_objective_inputs(surrogate, kl, mask, kl_coef)
    raise NotImplementedError("exercise: write Eq. 3's averages here (and delete this line)")
