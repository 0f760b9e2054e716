"""The reward model's equations (Math-Shepherd Eq. 1-2), where it reads its scores, and what GRPO does with them:
each recomputed independently (float64 numpy, or one unpadded sequence at a time)."""

import copy

import numpy as np
import pytest
import torch

import minigrpo.lab.loop as lab_loop
from minigrpo.grpo import sample_group, step1_sampling
from minigrpo.grpo.step2_reward import score_steps
from minigrpo.lab.config import LabGRPOConfig
from minigrpo.lab.reward_models.model import reward_model_loss, score_logits
from minigrpo.lab.reward_models.scores import model_outcome_scores, model_step_scores
from minigrpo.ppo.critic import ValueModel
from minigrpo.rewards import outcome_reward, step_rewards
from minigrpo.task import Problem
from minigrpo.tokenizer import BOS_ID, PAD_ID, encode


def bce_numpy(logits, labels, weight):
    z, y, w = (np.asarray(x, dtype=np.float64) for x in (logits, labels, weight))
    z, y = z[w > 0], y[w > 0]  # only labeled positions count
    p = 1 / (1 + np.exp(-z))
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum() / max(len(z), 1)


def test_loss_is_the_mean_binary_cross_entropy_over_labeled_positions():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 4, generator=g, dtype=torch.float64) * 3
    labels = torch.rand(5, 4, generator=g, dtype=torch.float64)  # soft labels
    labels[0] = torch.tensor([0.0, 1.0, 1.0, 0.0])  # and hard ones
    weight = (torch.rand(5, 4, generator=g) > 0.3).double()
    labels[weight == 0] = float("nan")  # what sits on an unlabeled position must not matter...
    labels = torch.nan_to_num(labels, nan=0.5)  # ...as long as it is a valid label
    logits[weight == 0] = 1e4
    got = reward_model_loss(logits, labels, weight).item()
    assert got == pytest.approx(bce_numpy(logits, labels, weight), rel=1e-12)


def test_loss_is_smallest_where_the_score_equals_a_soft_label():
    logits = torch.linspace(-4, 4, 801, dtype=torch.float64)[:, None]
    losses = torch.stack([reward_model_loss(z[None], torch.tensor([[0.3]], dtype=torch.float64),
                                            torch.ones(1, 1, dtype=torch.float64)) for z in logits])
    assert torch.sigmoid(logits[losses.argmin()]).item() == pytest.approx(0.3, abs=0.005)


@pytest.mark.parametrize("bad", ["shape", "range", "nan"])
def test_loss_refuses_bad_labels(bad):
    logits, weight = torch.zeros(2, 3), torch.ones(2, 3)
    labels = {"shape": torch.zeros(3, 2), "range": torch.full((2, 3), 1.5),
              "nan": torch.full((2, 3), float("nan"))}[bad]
    with pytest.raises(ValueError):
        reward_model_loss(logits, labels, weight)


@pytest.fixture
def scored_group(tiny_model):
    """A reward model with a random head on a tiny GPT, and a sampled group of it (float64)."""
    model = ValueModel.from_policy(tiny_model).double().eval()
    torch.nn.init.normal_(model.head.weight, std=0.5, generator=torch.Generator().manual_seed(1))
    problems = [Problem((3, 4, 2), ("+", "-")), Problem((12, 7), ("-",))]
    group = sample_group(tiny_model, problems, 3, 12, 1.0, torch.Generator().manual_seed(0))
    return model, group


def by_hand_logit(model, problem, completion_ids, position):
    """s_phi after completion token ``position``: one unpadded sequence [BOS] q o_<=position."""
    ids = [BOS_ID] + encode(problem.prompt) + completion_ids[: position + 1]
    tokens = torch.tensor([ids])
    return model(tokens, torch.ones_like(tokens, dtype=torch.bool))[0, -1].item()


def test_a_fresh_reward_model_scores_every_text_one_half(tiny_model, scored_group):
    _, group = scored_group
    assert torch.equal(model_outcome_scores(ValueModel.from_policy(tiny_model).double(), group),
                       torch.full(group.mask.shape[:2], 0.5))


def test_outcome_scores_are_read_at_the_last_token_of_each_completion(scored_group):
    model, group = scored_group
    B, G, T = group.mask.shape
    lengths = torch.arange(B * G).view(B, G) % (T - 2) + 2  # completions of many lengths, as <eos> makes them
    group.mask &= torch.arange(T) < lengths[..., None]
    group.completions = torch.where(group.mask, group.completions, PAD_ID)
    assert len(set(group.mask.sum(-1).flatten().tolist())) > 2  # the last token is not one column for all
    scores = model_outcome_scores(model, group)
    for b in range(B):
        for g in range(G):
            ids = group.completions[b, g][group.mask[b, g]].tolist()
            expected = 1 / (1 + np.exp(-by_hand_logit(model, group.problems[b], ids, len(ids) - 1)))
            assert scores[b, g].item() == pytest.approx(expected, abs=1e-6)  # float32 result of a float64 pass


def test_step_scores_are_read_at_each_steps_end_and_are_zero_where_no_step_is(scored_group):
    model, group = scored_group
    _, step_ends, step_mask = score_steps(step_rewards, group)
    scores = model_step_scores(model, group, step_ends, step_mask)
    B, G, S = step_ends.shape
    for b in range(B):
        for g in range(G):
            ids = group.completions[b, g][group.mask[b, g]].tolist()
            for s in range(S):
                if not step_mask[b, g, s]:
                    assert scores[b, g, s] == 0
                    continue
                expected = 1 / (1 + np.exp(-by_hand_logit(model, group.problems[b], ids, step_ends[b, g, s].item())))
                assert scores[b, g, s].item() == pytest.approx(expected, abs=1e-6)


def test_score_logits_refuses_positions_outside_the_completion(scored_group):
    model, group = scored_group
    flat = [x.flatten(0, 1) for x in (group.prompt, group.prompt_valid, group.completions, group.mask)]
    with pytest.raises(ValueError, match="positions"):
        score_logits(model, *flat, torch.full((flat[0].shape[0], 1), flat[2].shape[1]))
    with pytest.raises(TypeError, match="positions"):
        score_logits(model, *flat, torch.zeros(flat[0].shape[0], 1))


# --- through the lab's loop: GRPO maximizes the model's scores, and logs the verifier's next to them ---

SMALL = {"steps": 1, "prompts_per_step": 3, "group_size": 4, "max_new_tokens": 9, "eval_every": 1000}


def random_reward_model(policy):
    model = ValueModel.from_policy(policy).eval().requires_grad_(False)
    torch.nn.init.normal_(model.head.weight, std=1.0, generator=torch.Generator().manual_seed(3))
    return model


def spy_on(monkeypatch, module, name):
    """[(args, result)] of every call of ``module.name``, in order."""
    calls = []
    original = getattr(module, name)

    def spy(*args, **kwargs):
        calls.append((args, original(*args, **kwargs)))
        return calls[-1][1]
    monkeypatch.setattr(module, name, spy)
    return calls


def test_outcome_grpo_normalizes_the_reward_models_scores_not_the_verifiers(monkeypatch, easy_warm_start):
    policy, problems = easy_warm_start
    reward_model = random_reward_model(policy)
    groups = spy_on(monkeypatch, step1_sampling, "sample_group")
    advantages = spy_on(monkeypatch, lab_loop, "group_advantages")
    records = []
    cfg = LabGRPOConfig(**SMALL, adv_eps=0.01, reward_model="a.pt")
    lab_loop.train(copy.deepcopy(policy), cfg, problems, problems[:2], log=records.append, progress=False,
                   reward_model=reward_model)
    group = groups[0][1]
    scores = np.zeros(group.mask.shape[:2])
    for b in range(scores.shape[0]):
        for g in range(scores.shape[1]):
            ids = group.completions[b, g][group.mask[b, g]].tolist()
            scores[b, g] = 1 / (1 + np.exp(-by_hand_logit(reward_model, group.problems[b], ids, len(ids) - 1)))
    expected = (scores - scores.mean(1, keepdims=True)) / (scores.std(1, ddof=1, keepdims=True) + 0.01)
    np.testing.assert_allclose(advantages[0][1].numpy(), expected, atol=1e-5)
    assert records[-1]["learned_reward_mean"] == pytest.approx(scores.mean(), abs=1e-6)
    verifier = [outcome_reward(p, t) for p, texts in zip(group.problems, group.texts) for t in texts]
    assert records[-1]["reward_mean"] == pytest.approx(np.mean(verifier))  # the verifier's, logged beside


def test_process_grpo_takes_each_step_reward_from_the_reward_model(monkeypatch, easy_warm_start):
    policy, problems = easy_warm_start
    reward_model = random_reward_model(policy)
    groups = spy_on(monkeypatch, step1_sampling, "sample_group")
    process = spy_on(monkeypatch, lab_loop, "process_advantages")
    records = []
    cfg = LabGRPOConfig(**SMALL, supervision="process", adv_eps=0.2, reward_model="a.pt")
    lab_loop.train(copy.deepcopy(policy), cfg, problems, problems[:2], log=records.append, progress=False,
                   reward_model=reward_model)
    group = groups[0][1]
    step_r, step_ends, step_mask, _, eps = process[0][0]
    assert eps == 0.2
    _, verifier_ends, verifier_mask = score_steps(step_rewards, group)
    assert torch.equal(step_ends, verifier_ends) and torch.equal(step_mask, verifier_mask)  # the verifier's split
    for b, g, s in torch.nonzero(step_mask).tolist():
        ids = group.completions[b, g][group.mask[b, g]].tolist()
        logit = by_hand_logit(reward_model, group.problems[b], ids, step_ends[b, g, s].item())
        assert step_r[b, g, s].item() == pytest.approx(1 / (1 + np.exp(-logit)), abs=1e-6)
    assert records[-1]["learned_reward_mean"] == pytest.approx(step_r[step_mask].mean().item(), abs=1e-6)


def test_a_reward_model_needs_an_outcome_or_process_supervision_without_label_noise():
    with pytest.raises(ValueError, match="reward_model"):
        LabGRPOConfig(reward_model="a.pt", supervision="monte_carlo")
    with pytest.raises(ValueError, match="reward_model"):
        LabGRPOConfig(reward_model="a.pt", supervision="process", step_label_noise=0.1)
    with pytest.raises(ValueError, match="random_reward"):
        LabGRPOConfig(reward_model="a.pt", random_reward=0.5)

