"""Exercise: step 5, the k3 estimate of KL(pi_theta || pi_ref) per token (DeepSeekMath Eq. 4).

    k3 = pi_ref / pi_theta - log(pi_ref / pi_theta) - 1

from log-probabilities (logp of pi_theta, ref_logp of pi_ref). Mind the direction of the ratio.
Grade it: make exercise NAME=kl_k3. It grades runs/exercises/kl_k3.py, your copy of
the template minigrpo/lab/exercises/kl_k3.py, made the first time: edit the copy, never the template.
"""

from __future__ import annotations

import torch

from minigrpo import checks


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate, same shape as the inputs ([B, G, T])."""
    checks.inputs(locals(), logp="float [..., T]", ref_logp="float [..., T]")
    raise NotImplementedError("exercise: write k3 here (and delete this line)")
