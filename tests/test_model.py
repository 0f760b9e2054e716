"""The GPT: masking of prompt padding, causality, KV-cache generation, token log-probs."""

import torch

from minigrpo.model import generate, token_logprobs
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
