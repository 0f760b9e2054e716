"""Step 3 under process supervision: advantages from step rewards, against a brute-force loop over steps and tokens."""

import numpy as np
import pytest
import torch

from minigrpo.grpo import normalize_step_rewards, process_advantages


def brute_force(step_rewards, step_ends, step_mask, T, eps):
    """DeepSeekMath Sec. 4.1.3 written as plain loops in float64 numpy."""
    B, G, S = step_rewards.shape
    adv = np.zeros((B, G, T))
    for b in range(B):
        real = [step_rewards[b, g, j] for g in range(G) for j in range(S) if step_mask[b, g, j]]
        mean, std = np.mean(real), np.std(real, ddof=1)
        if max(real) == min(real):
            continue
        for g in range(G):
            for t in range(T):
                for j in range(S):
                    if step_mask[b, g, j] and step_ends[b, g, j] >= t:
                        adv[b, g, t] += (step_rewards[b, g, j] - mean) / (std + eps)
    return adv


def random_steps(seed, B=3, G=4, S=5, T=20):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, S + 1, size=(B, G))
    step_mask = np.arange(S) < counts[..., None]
    step_ends = np.sort(rng.choice(T, size=(B, G, S)), axis=-1)
    step_ends = np.where(step_mask, step_ends, 0)
    step_rewards = np.where(step_mask, rng.integers(0, 2, size=(B, G, S)).astype(float), 0.0)
    return step_rewards, step_ends, step_mask, T


@pytest.mark.parametrize("seed", range(5))
def test_matches_the_brute_force_loop(seed):
    rewards, ends, mask, T = random_steps(seed)
    got = process_advantages(torch.tensor(rewards), torch.tensor(ends), torch.tensor(mask), T, eps=1e-4)
    np.testing.assert_allclose(got.numpy(), brute_force(rewards, ends, mask, T, 1e-4), rtol=1e-10, atol=1e-12)


def test_a_failed_steps_penalty_reaches_the_tokens_up_to_its_end_and_none_after():
    # one prompt, two completions of three steps ending at tokens 2, 5, 8; completion 0 fails step 2
    rewards = torch.tensor([[[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]], dtype=torch.float64)
    ends = torch.tensor([[[2, 5, 8], [2, 5, 8]]])
    mask = torch.ones(1, 2, 3, dtype=torch.bool)
    adv = process_advantages(rewards, ends, mask, T=9, eps=0.0)[0]
    # 6 step rewards, five 1s and one 0: mean 5/6, sample std sqrt((5/36 + 25/36) / 5) = 1/sqrt(6)
    ok, bad = (1 - 5 / 6) * 6**0.5, (0 - 5 / 6) * 6**0.5
    expected_failed = [ok + bad + ok] * 3 + [bad + ok] * 3 + [ok] * 3
    torch.testing.assert_close(adv[0], torch.tensor(expected_failed, dtype=torch.float64))
    # the penalty is on tokens 0..5 (the failed step and the one before it); tokens 6..8 carry only step 3
    assert (adv[0, :6] < adv[1, :6]).all() and torch.equal(adv[0, 6:], adv[1, 6:])


def test_all_equal_step_rewards_give_exactly_zero_and_no_nan():
    rewards = torch.ones(2, 3, 4)
    mask = torch.ones(2, 3, 4, dtype=torch.bool)
    mask[1, :, 2:] = False  # the second prompt's completions have two steps each
    ends = torch.arange(4).expand(2, 3, 4)
    adv = process_advantages(rewards, ends, mask, T=4, eps=0.0)
    assert torch.equal(adv, torch.zeros(2, 3, 4))


def test_padding_steps_do_not_count_in_mean_or_std():
    rewards = torch.tensor([[[1.0, 0.0, 123.0], [0.0, 1.0, -7.0]]], dtype=torch.float64)
    mask = torch.tensor([[[True, True, False], [True, True, False]]])
    normalized = normalize_step_rewards(rewards, mask, eps=0.0)
    r = np.array([1.0, 0.0, 0.0, 1.0])
    expected = (r - r.mean()) / r.std(ddof=1)
    np.testing.assert_allclose(normalized[mask].numpy(), expected, rtol=1e-12)
    assert (normalized[~mask] == 0).all()


def test_bad_input_is_refused():
    mask = torch.ones(1, 2, 2, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"step_ends must lie in \[0, 4\)"):
        process_advantages(torch.rand(1, 2, 2), torch.tensor([[[0, 4], [1, 2]]]), mask, T=4)
    with pytest.raises(ValueError, match="must match"):
        process_advantages(torch.rand(1, 2, 2), torch.zeros(1, 2, 3, dtype=torch.long), mask, T=4)
    with pytest.raises(ValueError, match=r"\[B, G, S\]"):
        normalize_step_rewards(torch.rand(2, 2), torch.ones(2, 2, dtype=torch.bool))


def test_a_nan_in_a_padding_step_slot_changes_nothing():
    # padding is selected away, not multiplied by 0: 0 * NaN would turn the whole group into NaN
    rewards, ends, mask, T = (torch.tensor(x) if not isinstance(x, int) else x for x in random_steps(0))
    assert (~mask).any()
    clean = process_advantages(rewards, ends, mask, T)
    dirty = process_advantages(torch.where(mask, rewards, torch.nan), ends, mask, T)
    assert torch.isfinite(clean).all() and torch.equal(dirty, clean)
    with pytest.raises(ValueError, match="NaN or inf on a real"):
        process_advantages(torch.where(mask, torch.nan, rewards), ends, mask, T)


def test_a_group_with_fewer_than_two_real_steps_has_no_spread_and_gets_exactly_zero():
    rewards, ends, mask, T = (torch.tensor(x) if not isinstance(x, int) else x for x in random_steps(1, B=3))
    mask[1] = False
    mask[1, 0, 0] = True  # prompt 1: one real step in all (no std), prompt 2: none at all (no mean)
    mask[2] = False
    for eps in (0.0, 1e-4):  # with eps = 0 the std of one step would be 0 / 0
        adv = process_advantages(rewards, ends, mask, T, eps=eps)
        assert torch.isfinite(adv).all() and (adv[1:] == 0).all()
        np.testing.assert_allclose(adv[0].numpy(), brute_force(rewards[:1].numpy(), ends[:1].numpy(),
                                                               mask[:1].numpy(), T, eps)[0], rtol=1e-12)


def test_step_ends_are_checked_on_real_steps_only():
    rewards, ends, mask, T = (torch.tensor(x) if not isinstance(x, int) else x for x in random_steps(2))
    assert (~mask).any()
    far = torch.where(mask, ends, T + 100)  # padding step slots may hold any index
    assert torch.equal(process_advantages(rewards, far, mask, T), process_advantages(rewards, ends, mask, T))
    with pytest.raises(ValueError, match=r"step_ends must lie in \[0, 20\) on its real \(unmasked\) positions, got 20"):
        process_advantages(rewards, torch.where(mask, T, ends), mask, T)
