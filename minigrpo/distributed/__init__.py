"""Past one process: what data-parallel training must share between processes, and nothing else.

The single-process loop is the lesson; this package holds what changes when R processes each train on 1/R of the
prompts and average their gradients, and the loop reaches it at a few lines tagged ``# distributed:``.

world.py        the processes (torchrun), the prompts each keeps, what they sum: counts, gradients, metrics
sampling.py     a generator per prompt, so a prompt's completions do not depend on the number of processes
normalizers.py  what each aggregation divides by over the whole batch, and what must be summed to get it; the batch
                std and PPO's whitening across processes
"""

from .normalizers import local_counts, mean_std, moments, shard_objective, whiten_across
from .sampling import PerPromptSampler, per_prompt_sampler
from .world import World

__all__ = ["PerPromptSampler", "World", "local_counts", "mean_std", "moments", "per_prompt_sampler",
           "shard_objective", "whiten_across"]
