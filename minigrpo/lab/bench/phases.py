"""Where a GRPO step's time goes, measured from outside the lab's loop (bench part b).

The loop has no clock of its own. ``PhaseTimer`` wraps the step functions that ``lab/loop.py``
calls (sampling and the log-probs, on the default path and on the fast one, and gradient clipping)
and listens for the optimizer's step, noting the time at each, then splits every step's ``wall_s``
into phases:

    sample_s    sample_group                                                  (step 1)
    score_s     rewards and advantages: the rest of the no-grad part            (steps 2-3)
    ref_s       pi_ref's log-probs, for the KL                                 (for step 5)
    fwd_bwd_s   the policy's log-probs up to the gradient clip: forward and backward  (steps 4-6)
    opt_s       gradient clipping and the optimizer step
    other_s     what is left of wall_s: the metrics, the loop itself
"""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from ...grpo import step1_sampling
from .. import loop
from ..scale import fast

PHASES = ("sample_s", "score_s", "ref_s", "fwd_bwd_s", "opt_s")


class PhaseTimer:
    """``with timer.patched(): loop.train(policy, LabGRPOConfig(...), ..., log=timer.log)``: each GRPO step's record
    reaches ``log`` with its phases (a PPO step updates its critic too, which these phases do not split)."""

    def __init__(self, device: torch.device, log):
        self.cuda = device.type == "cuda"
        self.forward = log
        self.marks: list[tuple[str, float]] = []

    def mark(self, name: str) -> None:
        if self.cuda:  # GPU work is queued: wait for it, or its time lands in a later phase
            torch.cuda.synchronize()
        self.marks.append((name, time.perf_counter()))

    def log(self, record: dict) -> None:
        """The trainer's log callback: adds the phases of the step just ended to its record and passes it on."""
        phases = self.split() if "wall_s" in record else {}
        self.marks = []
        self.forward({**record, **phases})

    def split(self) -> dict[str, float]:
        at = {}
        for name, t in self.marks:
            at.setdefault(name, []).append(t)
        sample = at["sample_end"][0] - at["sample_start"][0]
        ref = at["ref_end"][0] - at["ref_start"][0]
        return {
            "sample_s": sample,
            "score_s": at["fwd_start"][0] - at["sample_end"][0] - ref,
            "ref_s": ref,
            "fwd_bwd_s": sum(c - f for f, c in zip(at["fwd_start"], at["clip_start"])),
            "opt_s": sum(o - c for c, o in zip(at["clip_start"], at["opt_end"])),
        }

    def sample_group(self, original):
        def sample_group(*args, **kwargs):
            self.mark("sample_start")
            group = original(*args, **kwargs)
            self.mark("sample_end")
            return group
        return sample_group

    def group_logprobs(self, original):
        def group_logprobs(*args, **kwargs):
            if torch.is_grad_enabled():  # the policy, in the update
                self.mark("fwd_start")
                return original(*args, **kwargs)
            self.mark("ref_start")  # pi_ref, under no_grad
            logp = original(*args, **kwargs)
            self.mark("ref_end")
            return logp
        return group_logprobs

    def clip_grad_norm_(self, original):
        def clip_grad_norm_(*args, **kwargs):
            self.mark("clip_start")
            return original(*args, **kwargs)
        return clip_grad_norm_

    @contextmanager
    def patched(self):
        """Wrap sample_group and group_logprobs of both paths (the loop picks one when it starts: enter this first)
        and the loop's clip_grad_norm_; hook every optimizer step."""
        wrapped = [(module, name) for module in (step1_sampling, fast) for name in ("sample_group", "group_logprobs")]
        wrapped.append((loop, "clip_grad_norm_"))
        originals = [(module, name, getattr(module, name)) for module, name in wrapped]
        hook = register_optimizer_step_post_hook(lambda *args: self.mark("opt_end"))
        for module, name, original in originals:
            setattr(module, name, getattr(self, name)(original))
        try:
            yield self
        finally:
            hook.remove()
            for module, name, original in originals:
                setattr(module, name, original)


def step_phases(steps: list[dict]) -> dict | None:
    """A GRPO step split into its phases: median seconds of each, and its share of their sum.

    ``steps`` are step records with ``wall_s`` and the ``PHASES`` keys (``PhaseTimer.log`` adds
    them). ``other_s`` is what the phases leave of ``wall_s``. Each part is a median over the
    steps, so the percentages are of the sum of the medians (``step_s``) and add to 100. None
    when there are no timed steps.
    """
    if not steps or any(k not in s for s in steps for k in PHASES):
        return None
    parts = {k: statistics.median(s[k] for s in steps) for k in PHASES}
    parts["other_s"] = statistics.median(s["wall_s"] - sum(s[k] for k in PHASES) for s in steps)
    total = sum(parts.values())
    return {"step_s": total, "parts": {k: {"s": v, "percent": 100 * v / total} for k, v in parts.items()}}
