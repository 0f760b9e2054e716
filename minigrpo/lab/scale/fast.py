"""The fast path (``--fast``): the numbers of ``model.generate`` and ``model.token_logprobs`` from less work.

The default path is the readable one and stays the lesson. This one computes the same tokens, log-probs and
gradients (to float rounding: tests/test_fast.py compares them) for a batch of B prompts x G completions, with
four savings that change no equation:

    1 the prompt once per group    the G completions of a prompt share it, so its keys and values are computed
                                   for B rows, not B * G, then copied to the G rows (sampling) or repeated inside
                                   the autograd graph (scoring: the backward pass sums the G rows' gradients)
    2 finished rows leave          a row that wrote <eos> is dropped from the decode batch: its later tokens are
                                   <pad> and its log-probs 0 anyway, so late steps compute only the long ones
    3 one buffer for the cache     keys and values are written into a buffer allocated once, not concatenated
                                   onto the cache at every new token
    4 length buckets               scoring pads each completion only to the longest of its bucket, not of the
                                   batch: rows of similar length are scored together, in at most ``BUCKETS``
                                   passes that waste the fewest padded positions

The random numbers are the default path's: every new token is drawn for all B * G rows, finished ones included,
from the same generator (or sampler) with the same shapes, so the stream of random numbers is the same and so are
the tokens, unless a float rounding in the last bit moves a probability across the random number (never seen in
the tests). ``python -m minigrpo bench`` times a GRPO step on both paths, side by side.
"""

from __future__ import annotations

import torch

from ...grpo.step1_sampling import Group, make_group
from ...model import GPT, KVCache, states_before_each_token
from ...task import Problem
from ...tokenizer import EOS_ID, PAD_ID, encode_prompts


class BufferCache(KVCache):
    """KVCache over buffers allocated once: keys and values [N, H, L_max, d/H] per layer, filled left to right."""

    def __init__(self, model: GPT, rows: int, max_len: int, like: torch.Tensor):
        cfg = model.cfg
        shape = (rows, cfg.n_head, max_len, cfg.n_embd // cfg.n_head)
        self.keys = [torch.empty(shape, dtype=like.dtype, device=like.device) for _ in range(cfg.n_layer)]
        self.values = [torch.empty(shape, dtype=like.dtype, device=like.device) for _ in range(cfg.n_layer)]
        self.length = [0] * cfg.n_layer  # positions written, per layer

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start, end = self.length[layer], self.length[layer] + k.shape[2]
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        self.length[layer] = end
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def select_rows(self, index: torch.Tensor) -> None:
        """Keep the rows ``index`` (repeated ones copied): the G copies of a prompt, or the unfinished rows."""
        self.keys = [k.index_select(0, index) for k in self.keys]
        self.values = [v.index_select(0, index) for v in self.values]


@torch.no_grad()
def generate_groups(model: GPT, prompt: torch.Tensor, prompt_valid: torch.Tensor, group_size: int,
                    max_new_tokens: int, eos_id: int, pad_id: int, temperature: float = 1.0,
                    generator: torch.Generator | None = None, sampler=None):
    """``generate(model, prompt.repeat_interleave(G, 0), ...)`` with return_entropy, computed the fast way.

    prompt [B, P] left-padded (each prompt once), prompt_valid [B, P] -> completion, mask, logp, entropy, each
    [B * G, T], rows b * G .. b * G + G - 1 prompt b's, as ``model.generate`` returns them.
    """
    B, P = prompt.shape
    G, N = group_size, B * group_size
    if P + max_new_tokens - 1 > model.cfg.block_size:
        raise ValueError(f"prompt length {P} + max_new_tokens {max_new_tokens} does not fit "
                         f"block_size {model.cfg.block_size}")
    copies = torch.arange(B, device=prompt.device).repeat_interleave(G)  # [N]: the prompt of each row
    cache = BufferCache(model, B, P + max_new_tokens, model.tok_emb.weight)
    logits = model(prompt, prompt_valid, cache)[:, -1][copies]  # 1: the prompt once, its last logits G times
    cache.select_rows(copies)
    valid = torch.ones(N, P + max_new_tokens, dtype=torch.bool, device=prompt.device)
    valid[:, :P] = prompt_valid[copies]
    rows = torch.arange(N, device=prompt.device)  # the rows still decoding
    logp_all = torch.zeros(N, logits.shape[-1], dtype=logits.dtype, device=logits.device)
    finished = torch.zeros(N, dtype=torch.bool, device=prompt.device)
    out_tokens, out_mask, out_logp, out_entropy = [], [], [], []
    for t in range(max_new_tokens):
        # a finished row keeps its last distribution: drawn from like the others, then discarded
        logp_all[rows] = torch.log_softmax(logits / temperature, dim=-1)
        probs = logp_all.exp()
        if sampler is not None:
            next_token = sampler(probs)
        else:
            next_token = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        next_logp = logp_all.gather(-1, next_token[:, None]).squeeze(-1)
        next_token = torch.where(finished, torch.full_like(next_token, pad_id), next_token)
        out_tokens.append(next_token)
        out_mask.append(~finished)
        out_logp.append(torch.where(finished, torch.zeros_like(next_logp), next_logp))
        out_entropy.append(torch.where(finished, 0.0, -(probs * logp_all).sum(-1)))
        finished = finished | (next_token == eos_id)
        if finished.all() or t == max_new_tokens - 1:  # the last new token is never fed back in
            break
        still = ~finished[rows]
        if not still.all():  # 2: drop the rows that just finished
            rows = rows[still]
            cache.select_rows(still.nonzero().squeeze(-1))
        logits = model(next_token[rows][:, None], valid[rows, : P + t + 1], cache)[:, -1]
    return (torch.stack(out_tokens, 1), torch.stack(out_mask, 1), torch.stack(out_logp, 1),
            torch.stack(out_entropy, 1))


# Each bucket is one more pass of a few hundred small operations; on this task four leave few positions padded
# (the bench's table (d) compares --fast's FLOPs with those of no padding at all)
BUCKETS = 4


def scored_lengths(mask: torch.Tensor) -> torch.Tensor:
    """mask [N, T] -> [N]: the positions to score in each row, up to its last completion token (at least one)."""
    positions = torch.arange(1, mask.shape[-1] + 1, device=mask.device)
    return (mask * positions).amax(-1).clamp(min=1)


def length_buckets(lengths: torch.Tensor, most: int = BUCKETS) -> list[torch.Tensor]:
    """The rows of each bucket, at most ``most`` buckets of consecutive lengths, with the fewest padded positions.

    lengths [N] -> index tensors, shortest bucket first. Padding a bucket to its longest row costs rows x longest
    positions; the split that minimizes the sum over buckets is found exactly, by dynamic programming over the
    distinct lengths (a handful: the task's answers have a few step counts).
    """
    values, counts = (t.tolist() for t in torch.unique(lengths, return_counts=True))  # sorted
    m = len(values)
    # cost[k][j]: fewest positions that hold the rows of the j shortest lengths in k buckets; start[k][j]: where
    # the last of those buckets begins
    cost = [[0] + [float("inf")] * m for _ in range(most + 1)]
    start = [[0] * (m + 1) for _ in range(most + 1)]
    for k in range(1, most + 1):
        for j in range(1, m + 1):
            for i in range(j):
                c = cost[k - 1][i] + sum(counts[i:j]) * values[j - 1]
                if c < cost[k][j]:
                    cost[k][j], start[k][j] = c, i
    k = min(range(1, most + 1), key=lambda k: (cost[k][m], k))  # the fewest buckets at the least cost
    bounds, j = [], m
    while j > 0:
        bounds.append((start[k][j], j))
        j, k = start[k][j], k - 1
    return [((lengths >= values[i]) & (lengths <= values[j - 1])).nonzero().squeeze(-1) for i, j in bounds[::-1]]


def group_token_logprobs(model: GPT, prompt: torch.Tensor, prompt_valid: torch.Tensor, completion: torch.Tensor,
                         temperature: float = 1.0, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """``token_logprobs(model, prompt.repeat_interleave(G, 0), ..., completion)``, each prompt computed once.

    prompt [B, P] (each prompt once), prompt_valid [B, P], completion [B * G, T] -> [B * G, T]; with ``lengths``
    [B * G] (the tokens of each completion, its <eos> included), the rows are scored in length buckets and the
    positions past a row's length are meaningless (0 past its bucket's longest), as the default path's are past
    <eos>: callers mask them. With autograd on, the gradient flows through the repeated prompt keys and
    values back to the one prompt pass.
    """
    B, P = prompt.shape
    N, T = completion.shape
    if lengths is None:  # every row scored to the end: one bucket
        lengths = torch.full((N,), T, device=completion.device)
    if lengths.shape != (N,) or lengths.min() < 1 or lengths.max() > T:
        raise ValueError(f"lengths must be [{N}] values from 1 to {T} (each completion's tokens), "
                         f"got shape {list(lengths.shape)}")
    copies = torch.arange(B, device=prompt.device).repeat_interleave(N // B)
    cache = KVCache(model.cfg.n_layer)
    first = model.hidden_states(prompt, prompt_valid, cache)[:, -1:]  # [B, 1, d]: the state before o_0
    buckets = length_buckets(lengths)
    pieces = []
    for rows in buckets:
        longest = int(lengths[rows].max())
        pieces.append(torch.nn.functional.pad(
            _logprobs(model, first, cache, prompt, prompt_valid, copies[rows], completion[rows, :longest],
                      temperature), (0, T - longest)))
    order = torch.cat(buckets).argsort()  # where each row went: its bucket's pieces back in the rows' order
    return torch.cat(pieces)[order]


def _logprobs(model: GPT, first: torch.Tensor, cache: KVCache, prompt: torch.Tensor, prompt_valid: torch.Tensor,
              copies: torch.Tensor, completion: torch.Tensor, temperature: float) -> torch.Tensor:
    """Log-probs [n, T] of n completions [n, T] of the prompts ``copies`` [n], from the prompts' cached pass."""
    T = completion.shape[1]
    prefix = KVCache(model.cfg.n_layer)
    prefix.keys = [k[copies] for k in cache.keys]  # 1: the prompt's keys and values, once per completion
    prefix.values = [v[copies] for v in cache.values]
    tokens, valid, _ = states_before_each_token(prompt[copies], prompt_valid[copies], completion)
    hidden = first[copies]
    if T > 1:  # the states before o_1 .. o_{T-1}: the completion's tokens but its last, against the cached prompt
        hidden = torch.cat([hidden, model.hidden_states(tokens[:, prompt.shape[1]:], valid, prefix)], dim=1)
    logp = torch.log_softmax(model.head(hidden) / temperature, dim=-1)  # [n, T, V]
    return logp.gather(-1, completion.unsqueeze(-1)).squeeze(-1)


@torch.no_grad()
def sample_group(policy: GPT, problems: list[Problem], group_size: int, max_new_tokens: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None, sampler=None) -> Group:
    """``grpo.step1_sampling.sample_group``, computed the fast way: the same Group (to float rounding)."""
    prompt, prompt_valid = encode_prompts([p.prompt for p in problems], next(policy.parameters()).device)  # [B, P]
    out = generate_groups(policy, prompt, prompt_valid, group_size, max_new_tokens, EOS_ID, PAD_ID, temperature,
                          generator, sampler)
    return make_group(problems, prompt.repeat_interleave(group_size, dim=0),
                      prompt_valid.repeat_interleave(group_size, dim=0), *out)


def group_logprobs(model: GPT, group: Group, temperature: float = 1.0) -> torch.Tensor:
    """``grpo.step1_sampling.group_logprobs``, each prompt computed once and the completions in length buckets."""
    if not torch.equal(group.prompt, group.prompt[:, :1].expand_as(group.prompt)):
        raise ValueError("the fast path needs the G completions of a group to share one prompt, as sample_group's do")
    logp = group_token_logprobs(model, group.prompt[:, 0], group.prompt_valid[:, 0], group.completions.flatten(0, 1),
                                temperature, scored_lengths(group.mask.flatten(0, 1)))
    return torch.where(group.mask, logp.view(group.mask.shape), 0.0)
