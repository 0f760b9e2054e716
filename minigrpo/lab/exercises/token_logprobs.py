"""Assignment: the log-probability of each completion token, log pi(o_t | q, o_<t), in one forward pass.

    log pi(o_t | q, o_<t) = log softmax(logits(q, o_<t) / temperature)[o_t]

Every ratio, KL and gradient of GRPO is made of these numbers. One pass of the model over the prompt followed by the
completion gives the logits of every position at once; the trap is reading them at the right place. The logits at
position p have seen the tokens up to and including p and predict the token at p + 1: completion token t (at position
P + t) is scored by the logits of position P - 1 + t, the state it was chosen in. Read them one position later and
each token is scored by a state that has already seen it, a real bug (huggingface/trl#3681, the bug zoo's
``logits-off-by-one``): the ratio and the KL compare the wrong numbers, and nothing crashes. The last completion
token predicts nothing, so the forward pass need not include it.

The prompt is left-padded: ``prompt_valid`` is False on its padding, and the model must be told (it is the
``valid`` argument of ``GPT.forward``, True on the completion's tokens too). The graders compare your numbers with
the model run on each prefix q, o_<t alone, whose last logits are the state before o_t.
Grade it: make exercise NAME=token_logprobs. It grades runs/exercises/token_logprobs.py, your copy of
the template minigrpo/lab/exercises/token_logprobs.py, made the first time: edit the copy, never the template.
The solution: ``minigrpo/model.py``.
"""

from __future__ import annotations

import torch

from minigrpo.model import GPT


def token_logprobs(
    model: GPT,
    prompt: torch.Tensor,
    prompt_valid: torch.Tensor,
    completion: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """log pi(o_t | q, o_<t) for every completion token, in one forward pass.

    prompt [N, P] (left-padded), prompt_valid [N, P], completion [N, T] -> [N, T].
    The policy is softmax(logits / temperature), the distribution completions are
    sampled from. Values at padding positions are meaningless; callers mask them.
    """
    raise NotImplementedError("exercise: one forward pass, the logits before each token, their log-softmax")
