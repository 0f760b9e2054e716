"""The project's own tiktoken encoding: one token per character, specials, clear errors."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from minigrpo.tokenizer import (
    ALPHABET,
    BOS_ID,
    EOS_ID,
    OUT_OF_PLACE,
    PAD_ID,
    VOCAB_SIZE,
    decode,
    encode,
    encode_prompts,
    get_encoding,
)


@given(st.text(alphabet=ALPHABET, max_size=40))
def test_round_trip_is_one_token_per_character(text):
    ids = encode(text)
    assert len(ids) == len(text)
    assert ids == [ALPHABET.index(ch) for ch in text]
    assert decode(ids) == text


def test_no_merges_even_for_repeated_characters():
    assert encode("1111") == [1, 1, 1, 1]
    assert encode("37+45=82;") == [3, 7, 10, 4, 5, 13, 8, 2, 14]


def test_special_tokens_follow_the_alphabet():
    assert (BOS_ID, EOS_ID, PAD_ID) == (17, 18, 19)
    assert get_encoding().n_vocab == VOCAB_SIZE == 20


@pytest.mark.parametrize("text, bad", [("12a", "'a'"), ("1 2", "' '"), ("\n", r"'\\n'"), ("é", "'é'")])
def test_character_outside_alphabet_is_a_clear_value_error(text, bad):
    with pytest.raises(ValueError, match=bad):
        encode(text)


def test_decode_stops_at_eos_and_keeps_indices_aligned():
    assert decode([1, 2, EOS_ID, 3, PAD_ID]) == "12"
    # a special token sampled inside a completion stays one character wide
    assert decode([1, PAD_ID, 2]) == "1" + OUT_OF_PLACE + "2"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        decode([VOCAB_SIZE])


def test_prompts_are_left_padded_after_bos():
    tokens, valid = encode_prompts(["1+2:", "12+34:"])
    assert tokens.tolist() == [
        [PAD_ID, PAD_ID, BOS_ID, 1, 10, 2, 16],
        [BOS_ID, 1, 2, 10, 3, 4, 16],
    ]
    assert valid.tolist() == [[False, False] + [True] * 5, [True] * 7]


@pytest.mark.parametrize("call, error, fragment", [
    (lambda: encode(None), TypeError, "text must be a str, got None"),
    (lambda: encode(b"12"), TypeError, "text must be a str, got b'12'"),
    (lambda: decode(None), TypeError, "ids must be a list of token ids"),
    (lambda: decode(torch.tensor([1, 2])), TypeError, r"ids must be a list of token ids \(a tensor's .tolist\(\)\)"),
    (lambda: decode([1, "2"]), ValueError, r"ids\[1\] = '2' is not a token id"),
    (lambda: decode([1, -1]), ValueError, r"ids\[1\] = -1 is not a token id: outside the vocabulary \[0, 20\)"),
    (lambda: encode_prompts([]), ValueError, "prompts is empty"),
    (lambda: encode_prompts("1+2:"), TypeError, "prompts must be a list of str, got '1\\+2:'"),
    (lambda: encode_prompts(["1+2:", None]), TypeError, "prompts must be a list of str"),
])
def test_bad_arguments_get_one_line_that_names_them(call, error, fragment):
    with pytest.raises(error, match=fragment) as caught:
        call()
    assert "\n" not in str(caught.value)


def test_a_bad_character_far_into_a_long_text_is_quoted_with_its_neighbourhood_only():
    text = "1" * 1_000_000 + "x"
    with pytest.raises(ValueError) as caught:
        encode(text)
    message = str(caught.value)
    assert len(message) < 200
    assert "character 'x' at position 1000000" in message and "11x'" in message and "(1000001 characters)" in message
