"""Step 5 — the k3 estimator of KL(pi_theta || pi_ref), per token.

    D_KL[pi_theta || pi_ref] ~= pi_ref / pi_theta - log(pi_ref / pi_theta) - 1
                              = exp(ref_logp - logp) - (ref_logp - logp) - 1

(DeepSeekMath Eq. 4; Schulman's "Approximating KL divergence", k3). With tokens
sampled from pi_theta it is unbiased (E[pi_ref / pi_theta] = 1) and never negative
(x - log x - 1 >= 0). The ratio is pi_ref over pi_theta: the inverse is a known bug.
GRPO puts this KL in the loss, weighted by beta, instead of folding it into the
reward as RLHF-style PPO does.

Deviations from the paper: none. (The tokens come from pi_old, not pi_theta; with
mu = 1 the two coincide at the point where the gradient is taken.)
"""

from __future__ import annotations

import torch


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate, same shape as the inputs ([B, G, T])."""
    if logp.shape != ref_logp.shape:
        raise ValueError(f"logp {tuple(logp.shape)} and ref_logp {tuple(ref_logp.shape)} must match")
    log_ratio = ref_logp - logp
    return torch.exp(log_ratio) - log_ratio - 1
