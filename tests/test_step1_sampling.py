"""Step 1: a group of G completions per prompt, with masks and pi_old's log-probs."""

import torch

from minigrpo.grpo import group_logprobs, sample_group
from minigrpo.task import parse_problem
from minigrpo.tokenizer import EOS_ID, PAD_ID, decode

PROBLEMS = [parse_problem("1+2-3"), parse_problem("45-6+78")]


def test_group_shapes_and_each_prompts_copies(tiny_model):
    group = sample_group(tiny_model, PROBLEMS, group_size=3, max_new_tokens=10,
                         generator=torch.Generator().manual_seed(0))
    B, G, T = group.completions.shape
    assert (B, G) == (2, 3) and T <= 10
    assert group.mask.shape == group.old_logp.shape == (B, G, T)
    assert group.prompt.shape[:2] == (B, G)
    for b in range(B):
        assert all(torch.equal(group.prompt[b, 0], group.prompt[b, g]) for g in range(G))
    for b in range(B):
        for g in range(G):
            assert group.texts[b][g] == decode(group.completions[b, g].tolist())


def test_old_logp_is_the_sampling_policys_logprob(tiny_model):
    group = sample_group(tiny_model, PROBLEMS, group_size=4, max_new_tokens=12, temperature=0.7,
                         generator=torch.Generator().manual_seed(1))
    recomputed = group_logprobs(tiny_model, group, temperature=0.7)
    torch.testing.assert_close(recomputed[group.mask], group.old_logp[group.mask])
    assert (group.old_logp[~group.mask] == 0).all()


def test_padding_logprobs_are_zero_and_get_no_gradient(tiny_model):
    group = sample_group(tiny_model, PROBLEMS, group_size=4, max_new_tokens=12,
                         generator=torch.Generator().manual_seed(1))
    assert (~group.mask).any()  # some completions ended early, so there is padding
    logp = group_logprobs(tiny_model, group)
    assert (logp[~group.mask] == 0).all() and (logp[group.mask] < 0).all()
    # padding adds a constant exp(-0) = 1 per token, never a gradient: the same as a loss over real tokens only
    torch.exp(-logp).sum().backward()
    with_padding = [p.grad.clone() for p in tiny_model.parameters()]
    tiny_model.zero_grad()
    torch.exp(-group_logprobs(tiny_model, group)[group.mask]).sum().backward()
    for a, b in zip(with_padding, (p.grad for p in tiny_model.parameters())):
        torch.testing.assert_close(a, b)


def test_mask_covers_tokens_up_to_and_including_eos():
    # a model that always says <eos> first: every completion is exactly one token, the <eos>
    class AlwaysEos(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.cfg = type("cfg", (), {"n_layer": 1, "block_size": 64})()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, tokens, valid, cache=None):
            logits = torch.full((*tokens.shape, 20), -1e9)
            logits[..., EOS_ID] = 0.0
            return logits

    group = sample_group(AlwaysEos(), PROBLEMS, group_size=2, max_new_tokens=5)
    assert group.completions.shape[-1] == 1  # generation stops once every row has ended
    assert (group.completions == EOS_ID).all() and group.mask.all()
    assert group.texts == [["", ""], ["", ""]]
    assert PAD_ID not in group.completions


def test_same_seed_same_group(tiny_model):
    a, b = (sample_group(tiny_model, PROBLEMS, 4, 12, generator=torch.Generator().manual_seed(5)) for _ in range(2))
    assert torch.equal(a.completions, b.completions)


def test_all_b_times_g_completions_are_generated_together(tiny_model):
    # Batched generation: every forward pass carries all B * G rows, one pass per new token.
    rows_per_call = []

    class Counting(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner, self.cfg = tiny_model, tiny_model.cfg

        def forward(self, tokens, valid, cache=None):
            rows_per_call.append(tokens.shape[0])
            return self.inner(tokens, valid, cache)

    group = sample_group(Counting(), PROBLEMS, group_size=3, max_new_tokens=12,
                         generator=torch.Generator().manual_seed(0))
    assert rows_per_call == [len(PROBLEMS) * 3] * group.completions.shape[-1]


def test_entropy_is_that_of_the_whole_sampling_distribution_at_each_token(tiny_model):
    """H = -sum_v p_v log p_v of softmax(logits / T), recomputed one unpadded sequence at a time in float64."""
    from minigrpo.tokenizer import BOS_ID, encode

    group = sample_group(tiny_model, PROBLEMS, group_size=3, max_new_tokens=8, temperature=0.7,
                         generator=torch.Generator().manual_seed(2))
    B, G, T = group.mask.shape
    for b in range(B):
        for g in range(G):
            ids = [BOS_ID] + encode(PROBLEMS[b].prompt) + group.completions[b, g][group.mask[b, g]].tolist()
            tokens = torch.tensor([ids])
            logits = tiny_model(tokens, torch.ones_like(tokens, dtype=torch.bool))[0] / 0.7
            p = torch.softmax(logits, -1)
            expected = -(p * torch.log(p)).sum(-1)[len(ids) - 1 - int(group.mask[b, g].sum()): len(ids) - 1]
            torch.testing.assert_close(group.entropy[b, g][group.mask[b, g]], expected)
    assert (group.entropy[~group.mask] == 0).all()
