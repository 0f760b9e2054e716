"""Prose claims are code: a notebook states a comparison in its markdown and checks it in the cell beside it.

``claim(condition, message)`` prints the message when the outputs above it bear it out and raises when they do
not, so a rerun whose numbers contradict the text fails ``make test`` (which executes every notebook) instead
of leaving a sentence that is no longer true.
"""

from __future__ import annotations

import numpy as np
import torch


class ClaimError(AssertionError):
    """A sentence of the prose that the numbers printed beside it contradict."""


def claim(condition: bool, message: str) -> None:
    """Check one sentence of the prose against the numbers: print it when ``condition`` holds, raise when not.

    ``message`` is the sentence as the markdown states it, in words a reader recognizes ("process beats outcome
    on the mean over evaluations"); the cell computes ``condition`` from the same outputs it prints.
    """
    if isinstance(condition, torch.Tensor) and condition.dtype == torch.bool and condition.dim() == 0:
        condition = bool(condition)
    if not isinstance(condition, (bool, np.bool_)):  # a number or a tensor would pass for true when non-zero
        raise TypeError(f"claim() takes a bool (a comparison), got {type(condition).__name__}: {condition!r}")
    if not condition:
        raise ClaimError(f"the text claims: {message}; the outputs above contradict it (the story must change "
                         "with the data)")
    print(f"claim holds: {message}")
