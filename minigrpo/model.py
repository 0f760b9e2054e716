"""A small GPT written by hand: embeddings, causal self-attention, MLP, KV cache.

Shapes: N sequences (N = B * G during GRPO), L positions, d = n_embd, H heads.
Prompts are left-padded with <pad> so that every prompt ends at the same column and
generation appends to all rows at once; ``valid`` [N, L] is False on that padding.
Padding is never attended to, and position ids count only valid tokens, so a
prompt's numbers do not depend on how much padding sits before it.

The output head shares its weight with the token embedding (weight tying, as in
GPT-2 and nanoGPT): with a 20-token vocabulary it saves little, but it is the
standard choice and one matrix fewer to explain.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn

from .config import ModelConfig


class KVCache:
    """Keys and values of every position seen so far, per layer: [N, H, L_seen, d/H]."""

    def __init__(self, n_layer: int):
        self.keys: list[torch.Tensor | None] = [None] * n_layer
        self.values: list[torch.Tensor | None] = [None] * n_layer

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.keys[layer] is not None:
            k = torch.cat([self.keys[layer], k], dim=2)
            v = torch.cat([self.values[layer], v], dim=2)
        self.keys[layer], self.values[layer] = k, v
        return k, v


class CausalSelfAttention(nn.Module):
    """softmax(Q K^T / sqrt(d_head) + mask) V in each of H heads, then an output projection.

    ``mask`` adds 0 where a query may look at a key and -inf where it may not (a later
    position, or prompt padding), so those keys get probability 0 after the softmax.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def forward(self, x, allowed, cache: KVCache | None, layer: int):
        """x [N, L, d]; allowed [N, 1, L, L_keys], True where a query may attend to a key -> [N, L, d]."""
        N, L, d = x.shape
        H, d_head = self.n_head, d // self.n_head
        q, k, v = self.qkv(x).split(d, dim=2)  # each [N, L, d]
        q, k, v = (t.view(N, L, H, d_head).transpose(1, 2) for t in (q, k, v))  # each [N, H, L, d_head]
        if cache is not None:
            k, v = cache.extend(layer, k, v)  # [N, H, L_keys, d_head]: the cached prefix, then these L
        scores = q @ k.transpose(-2, -1) / math.sqrt(d_head)  # [N, H, L, L_keys]
        scores = scores.masked_fill(~allowed, float("-inf"))  # + mask
        weights = torch.softmax(scores, dim=-1)  # [N, H, L, L_keys], each row sums to 1
        y = weights @ v  # [N, H, L, d_head]
        return self.proj(y.transpose(1, 2).reshape(N, L, d))  # heads side by side again: [N, L, d]


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(), nn.Linear(4 * cfg.n_embd, cfg.n_embd)
        )

    def forward(self, x, allowed, cache, layer):
        x = x + self.attn(self.ln1(x), allowed, cache, layer)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight
        self.apply(self._init_weights)
        # GPT-2's scaled init of the two projections in each block that write into the residual stream.
        for block in self.blocks:
            for projection in (block.attn.proj, block.mlp[2]):
                nn.init.normal_(projection.weight, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, tokens: torch.Tensor, valid: torch.Tensor, cache: KVCache | None = None):
        """Logits [N, L, V] for ``tokens`` [N, L].

        ``valid`` [N, L_all] marks the non-padding positions of the whole sequence so
        far (the cached prefix plus ``tokens``), so L_all >= L.
        """
        return self.head(self.hidden_states(tokens, valid, cache))

    def hidden_states(self, tokens: torch.Tensor, valid: torch.Tensor, cache: KVCache | None = None):
        """The final normalized features [N, L, d] that the head turns into logits (PPO's critic reads them too)."""
        N, L = tokens.shape
        L_all = valid.shape[1]
        if L_all > self.cfg.block_size:
            raise ValueError(f"sequence length {L_all} exceeds block_size {self.cfg.block_size}")
        positions = (valid.long().cumsum(1) - 1).clamp(min=0)[:, L_all - L :]  # [N, L], padding not counted
        x = self.tok_emb(tokens) + self.pos_emb(positions)  # [N, L, d]
        query_pos = torch.arange(L_all - L, L_all, device=tokens.device)[:, None]  # [L, 1]
        key_pos = torch.arange(L_all, device=tokens.device)[None, :]  # [1, L_all]
        allowed = (key_pos <= query_pos)[None] & valid[:, None, :]  # [N, L, L_all]: causal, no padding keys
        # A padding query may see no valid key; letting it see itself avoids a NaN softmax.
        allowed = (allowed | (key_pos == query_pos)[None])[:, None]  # [N, 1, L, L_all], the same for every head
        for layer, block in enumerate(self.blocks):
            x = block(x, allowed, cache, layer)  # [N, L, d]
        return self.ln_f(x)


def frozen_copy(model: GPT) -> GPT:
    """A copy of ``model`` that never trains: pi_ref, the anchor of the KL term."""
    reference = copy.deepcopy(model).eval()
    reference.requires_grad_(False)
    return reference


def states_before_each_token(prompt: torch.Tensor, prompt_valid: torch.Tensor, completion: torch.Tensor):
    """The model input that scores a completion in one pass, and where to read it.

    Returns (tokens [N, P + T - 1], valid [N, P + T - 1], states): the output at
    position ``states``[t] = P - 1 + t has seen q and o_<t, the state in which
    completion token t is chosen. The policy's logits and the critic's value are read there.
    """
    tokens = torch.cat([prompt, completion], dim=1)
    valid = torch.cat([prompt_valid, torch.ones_like(completion, dtype=torch.bool)], dim=1)
    P, T = prompt.shape[1], completion.shape[1]
    return tokens[:, :-1], valid[:, :-1], slice(P - 1, P - 1 + T)


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
    tokens, valid, states = states_before_each_token(prompt, prompt_valid, completion)
    logits = model(tokens, valid)[:, states]
    logp = torch.log_softmax(logits / temperature, dim=-1)
    return logp.gather(-1, completion.unsqueeze(-1)).squeeze(-1)


# Not inference_mode: the update saves the completions and mask for backward (gather, where),
# which tensors made in inference mode cannot be.
@torch.no_grad()
def generate(
    model: GPT,
    prompt: torch.Tensor,
    prompt_valid: torch.Tensor,
    max_new_tokens: int,
    eos_id: int,
    pad_id: int,
    temperature: float = 1.0,
    greedy: bool = False,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    return_entropy: bool = False,
    sampler=None,
):
    """Autoregressive generation for all N rows at once.

    prompt [N, P] left-padded, prompt_valid [N, P] ->
      completion [N, T] (T <= max_new_tokens; <pad> after each row's <eos>),
      mask [N, T] (True on generated tokens, the <eos> included),
      logp [N, T] (log-prob of each sampled token under softmax(logits / temperature)),
      and with ``return_entropy`` entropy [N, T]: -sum_v p_v log p_v of that whole distribution at each step.
    A row stops at its <eos>; generation stops when every row has.
    ``use_cache=False`` re-runs the whole prefix for every new token instead of feeding
    only the newest one against cached keys and values: the same tokens, much slower
    (``python -m minigrpo bench`` measures by how much).
    ``sampler(probs [N, V]) -> tokens [N]`` draws the tokens instead of ``torch.multinomial`` with ``generator``.
    """
    N, P = prompt.shape
    if P + max_new_tokens - 1 > model.cfg.block_size:  # the last new token is never fed back in
        raise ValueError(f"prompt length {P} + max_new_tokens {max_new_tokens} does not fit "
                         f"block_size {model.cfg.block_size}")
    cache = KVCache(model.cfg.n_layer) if use_cache else None
    valid = prompt_valid
    step_input = prompt
    finished = torch.zeros(N, dtype=torch.bool, device=prompt.device)
    out_tokens, out_mask, out_logp, out_entropy = [], [], [], []
    for _ in range(max_new_tokens):
        logits = model(step_input, valid, cache)[:, -1]
        logp_all = torch.log_softmax(logits / temperature, dim=-1)
        if greedy:
            next_token = logp_all.argmax(-1)
        elif sampler is not None:  # lab/scale/sampling.py: each prompt's own random numbers
            next_token = sampler(logp_all.exp())
        else:
            next_token = torch.multinomial(logp_all.exp(), 1, generator=generator).squeeze(-1)
        next_logp = logp_all.gather(-1, next_token[:, None]).squeeze(-1)
        next_token = torch.where(finished, torch.full_like(next_token, pad_id), next_token)
        out_tokens.append(next_token)
        out_mask.append(~finished)
        out_logp.append(torch.where(finished, torch.zeros_like(next_logp), next_logp))
        if return_entropy:
            out_entropy.append(torch.where(finished, 0.0, -(logp_all.exp() * logp_all).sum(-1)))
        finished = finished | (next_token == eos_id)
        valid = torch.cat([valid, torch.ones_like(finished)[:, None]], dim=1)
        step_input = next_token[:, None] if use_cache else torch.cat([step_input, next_token[:, None]], dim=1)
        if finished.all():
            break
    out = torch.stack(out_tokens, 1), torch.stack(out_mask, 1), torch.stack(out_logp, 1)
    return (*out, torch.stack(out_entropy, 1)) if return_entropy else out
