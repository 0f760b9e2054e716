"""The GPT: masking of prompt padding, causality, KV-cache generation, token log-probs."""

import numpy as np
import pytest
import torch

from minigrpo.config import ModelConfig
from minigrpo.model import GPT, generate, token_logprobs
from minigrpo.tokenizer import BOS_ID, EOS_ID, PAD_ID, encode, encode_prompts


def test_token_logprobs_equal_a_manual_softmax_of_the_logits(tiny_model):
    prompt, valid = encode_prompts(["12+3:"])
    completion = torch.tensor([encode("12+3=15;") + [EOS_ID]])
    logp = token_logprobs(tiny_model, prompt, valid, completion)
    full = torch.cat([prompt, completion], 1)
    logits = tiny_model(full, torch.ones_like(full, dtype=torch.bool))
    for t in range(completion.shape[1]):
        row = logits[0, prompt.shape[1] - 1 + t]
        expected = row[completion[0, t]] - torch.logsumexp(row, 0)
        torch.testing.assert_close(logp[0, t], expected)


def test_each_token_is_scored_by_the_prefix_before_it_run_alone(tiny_model):
    """The definition itself, log pi(o_t | q, o_<t): the model run on q, o_<t only, its last logits at temperature
    0.7. No position of a longer sequence is read, so a score one position early or late cannot agree with it."""
    prompts, completions = ["12+3:", "4-56+7:"], [encode("12+3=15;") + [EOS_ID], encode("4-56=-52;") + [EOS_ID]]
    prompt, valid = encode_prompts(prompts)  # the first one left-padded
    T = max(map(len, completions))
    completion = torch.tensor([tokens + [PAD_ID] * (T - len(tokens)) for tokens in completions])
    logp = token_logprobs(tiny_model, prompt, valid, completion, temperature=0.7)
    for n, (text, tokens) in enumerate(zip(prompts, completions)):
        alone, _ = encode_prompts([text])  # this prompt without padding
        for t, token in enumerate(tokens):
            prefix = torch.cat([alone, torch.tensor([tokens[:t]], dtype=alone.dtype)], 1)
            last = tiny_model(prefix, torch.ones_like(prefix, dtype=torch.bool))[0, -1]
            torch.testing.assert_close(logp[n, t], torch.log_softmax(last / 0.7, -1)[token])


def test_temperature_divides_the_logits(tiny_model):
    prompt, valid = encode_prompts(["1+2:"])
    completion = torch.tensor([encode("1+2=3")])
    tokens = torch.cat([prompt, completion], 1)[:, :-1]
    logits = tiny_model(tokens, torch.ones_like(tokens, dtype=torch.bool))
    expected = torch.log_softmax(logits[:, prompt.shape[1] - 1 :] / 0.5, -1).gather(-1, completion[..., None])[..., 0]
    torch.testing.assert_close(token_logprobs(tiny_model, prompt, valid, completion, temperature=0.5), expected)


def test_left_padding_of_the_prompt_changes_nothing(tiny_model):
    completion = torch.tensor([encode("1+2=3;") + [EOS_ID]])
    alone = token_logprobs(tiny_model, *encode_prompts(["1+2:"]), completion)
    prompt, valid = encode_prompts(["1+2:", "123+456-7:"])  # the first row gets 6 pads
    padded = token_logprobs(tiny_model, prompt, valid, completion.repeat(2, 1))
    torch.testing.assert_close(padded[0], alone[0])


def test_tokens_after_a_position_do_not_change_its_logprob(tiny_model):
    prompt, valid = encode_prompts(["9-4:"])
    a = torch.tensor([encode("9-4=5") + [EOS_ID, PAD_ID, PAD_ID]])
    b = a.clone()
    b[0, -2:] = torch.tensor([3, BOS_ID])
    torch.testing.assert_close(
        token_logprobs(tiny_model, prompt, valid, a)[:, :6], token_logprobs(tiny_model, prompt, valid, b)[:, :6]
    )


def test_kv_cache_generation_equals_generation_without_cache(tiny_model):
    prompt, valid = encode_prompts(["1+2:", "34-56+7:", "8:"])
    for greedy in (True, False):
        out = [
            generate(tiny_model, prompt, valid, 20, EOS_ID, PAD_ID, greedy=greedy,
                     generator=torch.Generator().manual_seed(1), use_cache=use_cache)
            for use_cache in (True, False)
        ]
        assert torch.equal(out[0][0], out[1][0])
        assert torch.equal(out[0][1], out[1][1])
        torch.testing.assert_close(out[0][2], out[1][2])


def test_generation_logprobs_match_a_full_forward_and_padding_follows_eos(tiny_model):
    prompt, valid = encode_prompts(["1+2:", "34-56+7:"])
    completion, mask, logp = generate(
        tiny_model, prompt, valid, 24, EOS_ID, PAD_ID, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(token_logprobs(tiny_model, prompt, valid, completion)[mask], logp[mask])
    assert (logp[~mask] == 0).all()
    for row, row_mask in zip(completion.tolist(), mask.tolist()):
        if EOS_ID in row:
            end = row.index(EOS_ID)
            assert row_mask == [True] * (end + 1) + [False] * (len(row) - end - 1)  # <eos> is in the mask
            assert all(t == PAD_ID for t in row[end + 1 :])


def numpy_attention(x, qkv_w, qkv_b, proj_w, proj_b, allowed, n_head):
    """softmax(Q K^T / sqrt(d_head) + mask) V per head, then the output projection, in float64 loops."""
    N, L, d = x.shape
    d_head = d // n_head
    q, k, v = np.split(x @ qkv_w.T + qkv_b, 3, axis=-1)
    out = np.zeros((N, L, d))
    for n in range(N):
        for h in range(n_head):
            cols = slice(h * d_head, (h + 1) * d_head)
            scores = q[n, :, cols] @ k[n, :, cols].T / np.sqrt(d_head)
            scores = np.where(allowed[n], scores, -np.inf)
            weights = np.exp(scores - scores.max(-1, keepdims=True))
            out[n, :, cols] = weights / weights.sum(-1, keepdims=True) @ v[n, :, cols]
    return out @ proj_w.T + proj_b


def test_attention_is_the_softmax_formula_and_agrees_with_torch_sdpa(tiny_model):
    attn = tiny_model.blocks[0].attn
    x = torch.randn(3, 5, tiny_model.cfg.n_embd, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    allowed = causal.expand(3, 5, 5).clone()
    allowed[1, :, 0] = False  # a padding key in row 1
    allowed[1, 0, 0] = True  # its own query may see itself (as GPT.hidden_states arranges)
    with torch.no_grad():
        got = attn(x, allowed[:, None], None, 0)
        sdpa = torch.nn.functional.scaled_dot_product_attention(
            *(t.view(3, 5, attn.n_head, -1).transpose(1, 2) for t in attn.qkv(x).split(x.shape[-1], dim=2)),
            attn_mask=allowed[:, None],
        )
        sdpa = attn.proj(sdpa.transpose(1, 2).reshape(3, 5, -1))
    weights = [p.detach().numpy() for p in (attn.qkv.weight, attn.qkv.bias, attn.proj.weight, attn.proj.bias)]
    expected = numpy_attention(x.numpy(), *weights, allowed.numpy(), attn.n_head)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got, sdpa, rtol=1e-10, atol=1e-12)


def test_residual_projections_start_smaller_than_the_other_weights():
    # GPT-2's init: the two projections that write into the residual stream get std 0.02 / sqrt(2 n_layer)
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=8, n_embd=128, n_head=4))
    scaled = [p for block in model.blocks for p in (block.attn.proj.weight, block.mlp[2].weight)]
    others = [block.attn.qkv.weight for block in model.blocks]
    assert torch.cat([p.flatten() for p in scaled]).std().item() == pytest.approx(0.02 / 4, rel=0.05)
    assert torch.cat([p.flatten() for p in others]).std().item() == pytest.approx(0.02, rel=0.05)
