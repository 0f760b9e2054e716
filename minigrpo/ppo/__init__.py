"""PPO with a learned critic, the baseline GRPO removes (InstructGPT-style RLHF PPO).

It reuses GRPO's step 1 (sampling), step 2 (reward), step 4 (ratio and clip) and the
k3 KL of step 5 for the log; what it adds is the critic and GAE:

    critic.py      V(q, o_<t): a separate copy of the warm-start GPT with a scalar head
    kl_reward.py   the KL penalty folded into a per-token reward (RLHF's form)
    gae.py         generalized advantage estimation and returns (whitening: masked.whiten)
    value_loss.py  the clipped value loss and explained variance
    trainer.py     the loop: GRPO's loop with the group baseline replaced by critic + GAE
"""

from ..masked import whiten
from .critic import ValueModel, completion_values
from .gae import gae
from .kl_reward import kl_penalized_rewards
from .value_loss import clipped_value_loss, explained_variance

__all__ = [
    "ValueModel",
    "completion_values",
    "gae",
    "whiten",
    "kl_penalized_rewards",
    "clipped_value_loss",
    "explained_variance",
]
