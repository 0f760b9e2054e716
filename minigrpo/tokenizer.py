"""A tiktoken Encoding built by the project: one token per character of the task.

Nothing is downloaded. The ranks map each character of ``ALPHABET`` (one byte each)
to its own token id and define no merges, so the byte-pair encoder never joins two
characters: ``"37+45"`` is the five tokens ``3 7 + 4 5``. Three special tokens follow:
``<bos>`` opens every prompt, ``<eos>`` ends every completion (and is trained like
any other completion token), ``<pad>`` fills batches and is never trained.
"""

from __future__ import annotations

import re
from functools import lru_cache
from numbers import Integral

import tiktoken
import torch

from . import checks

ALPHABET = "0123456789+-*=;#:"
BOS, EOS, PAD = "<bos>", "<eos>", "<pad>"
BOS_ID = len(ALPHABET)
EOS_ID = BOS_ID + 1
PAD_ID = BOS_ID + 2
VOCAB_SIZE = len(ALPHABET) + 3
OUT_OF_PLACE = "?"  # how decode shows a <bos> or <pad> inside a completion

# Why "(?s).": tiktoken silently drops text its pre-tokenizer regex does not match,
# so the pattern must match every character, newlines included.
_PATTERN = r"(?s)."
_OUTSIDE = re.compile(f"[^{re.escape(ALPHABET)}]")  # the first character encode refuses


@lru_cache(maxsize=1)
def get_encoding() -> tiktoken.Encoding:
    ranks = {ch.encode("ascii"): i for i, ch in enumerate(ALPHABET)}
    return tiktoken.Encoding(
        name="minigrpo-arith",
        pat_str=_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={BOS: BOS_ID, EOS: EOS_ID, PAD: PAD_ID},
    )


def encode(text: str) -> list[int]:
    """Token ids of ``text``, which may contain only ALPHABET characters.

    Validated here because tiktoken's Rust core panics (an exception that
    ``except Exception`` does not catch) on a byte that is missing from its ranks.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {checks.excerpt(text)}")
    if bad := _OUTSIDE.search(text):
        raise ValueError(f"character {bad[0]!r} at position {bad.start()} of {checks.excerpt(text, bad.start())} "
                         f"is not in the alphabet {ALPHABET!r}")
    return get_encoding().encode_ordinary(text)


def decode(ids: list[int]) -> str:
    """Text of ``ids`` up to the first ``<eos>``, exactly one character per token.

    A ``<bos>`` or ``<pad>`` sampled inside a completion becomes ``?`` (not in the
    alphabet, so the parsers reject it) instead of vanishing: character t of the
    text stays token t of the completion, which step 2 relies on.
    """
    if not isinstance(ids, (list, tuple)):
        raise TypeError(f"ids must be a list of token ids (a tensor's .tolist()), got {checks.excerpt(ids)}")
    enc = get_encoding()
    chars = []
    for position, i in enumerate(ids):
        if i == EOS_ID:
            break
        if not (isinstance(i, Integral) and 0 <= i < VOCAB_SIZE):
            raise ValueError(f"ids[{position}] = {checks.excerpt(i)} is not a token id: outside the vocabulary "
                             f"[0, {VOCAB_SIZE})")
        chars.append(enc.decode([i]) if i < len(ALPHABET) else OUT_OF_PLACE)
    return "".join(chars)


def encode_prompts(prompts: list[str], device="cpu"):
    """Left-padded batch: ``<bos> prompt`` per row -> tokens [N, P], valid [N, P].

    Left padding puts every prompt's last token in the same column, so generation
    appends one column for all rows at once.
    """
    checks.inputs(locals(), prompts=[str])
    rows = [[BOS_ID] + encode(p) for p in prompts]
    width = max(len(r) for r in rows)
    tokens = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
    for i, r in enumerate(rows):
        tokens[i, width - len(r) :] = torch.tensor(r)
    tokens = tokens.to(device)
    return tokens, tokens != PAD_ID
