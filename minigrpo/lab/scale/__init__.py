"""The same numbers from less work: the fast path on one process, and data-parallel training on several.

fast.py         --fast: sampling and scoring with each prompt computed once per group, finished completions dropped,
                completions scored in length buckets; the same tokens, log-probs and gradients (tests/test_fast.py)
world.py        the processes of a torchrun, the prompts each keeps, what they sum: counts, gradients, metrics; in one
                process every collective operation does nothing
sampling.py     a generator per prompt, so a prompt's completions do not depend on the number of processes
normalizers.py  what each process contributes to the whole batch's counts and statistics (the averages themselves
                are ``masked.aggregate`` and ``masked.whiten``)
"""

from . import fast
from .normalizers import local_counts, mean_std, moments
from .sampling import PerPromptSampler, per_prompt_sampler
from .world import World

__all__ = ["PerPromptSampler", "World", "fast", "local_counts", "mean_std", "moments", "per_prompt_sampler"]
