"""Step 2 with a learned reward model: the group scored by a network instead of the verifier.

DeepSeekMath trains GRPO on a learned reward model's scores (Sec. 4.1.2); its process supervision
(Sec. 4.1.3) reads one score per reasoning step off a process reward model. With a model from
``reward_model.py``:

    outcome:  r_i = r_phi(q, o_i) = sigmoid(s_phi at the last token of o_i)            [B, G]
    process:  r_i^{index(j)} = r_phi^j = sigmoid(s_phi at index(j), the end of step j)  [B, G, S]

Steps 3 to 6 are unchanged: they see numbers, wherever the numbers came from. The step ends are the
verifier's split of the text into steps (``score_steps``): splitting is parsing, not judging; the
model alone says how good each step is.

Deviations from the paper: none. The model is frozen during GRPO, as DeepSeekMath's is.
"""

from __future__ import annotations

import torch

from ... import checks
from ...grpo.step1_sampling import Group
from .model import ValueModel, score_logits


def _flat(group: Group):
    if not isinstance(group, Group):
        raise TypeError(f"group must be a Group (from sample_group), got {type(group).__name__}")
    return (group.prompt.flatten(0, 1), group.prompt_valid.flatten(0, 1), group.completions.flatten(0, 1),
            group.mask.flatten(0, 1))


@torch.no_grad()
def model_outcome_scores(model: ValueModel, group: Group) -> torch.Tensor:
    """r_phi(q, o_i) for every completion, read at its last real token (the <eos> if any): rewards [B, G]."""
    B, G, _ = group.mask.shape
    last = group.mask.flatten(0, 1).sum(-1, keepdim=True) - 1  # [B*G, 1]
    return torch.sigmoid(score_logits(model, *_flat(group), last)).view(B, G).float()


@torch.no_grad()
def model_step_scores(model: ValueModel, group: Group, step_ends: torch.Tensor,
                      step_mask: torch.Tensor) -> torch.Tensor:
    """r_phi^j for every step of every completion, read at its end token: step_ends [B, G, S] (from
    ``score_steps``), step_mask [B, G, S] -> step rewards [B, G, S], 0 where there is no step."""
    checks.tensor("step_ends", step_ends, "[B, G, S]", "int")
    checks.tensor("step_mask", step_mask, "[B, G, S]", "bool")
    checks.same_shape(step_ends=step_ends, step_mask=step_mask)
    if step_ends.shape[:2] != group.mask.shape[:2]:
        raise ValueError(f"step_ends is {tuple(step_ends.shape)}, the group has B, G = {tuple(group.mask.shape[:2])}")
    B, G, S = step_ends.shape
    logits = score_logits(model, *_flat(group), step_ends.flatten(0, 1)).view(B, G, S)
    return torch.where(step_mask, torch.sigmoid(logits), 0.0).float()
