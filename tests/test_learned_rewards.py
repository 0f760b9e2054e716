"""Automatic labels (Math-Shepherd Eq. 3-4), the held-out measures, training, and the command line of reward models."""

import json

import numpy as np
import pytest
import torch

import minigrpo.lab.reward_models.labels as labels_module
import minigrpo.lab.reward_models.train as train_module
from minigrpo.checkpoint import save_checkpoint
from minigrpo.grpo.step2_reward import score_steps
from minigrpo.lab.cli import main
from minigrpo.lab.config import RewardModelConfig
from minigrpo.lab.reward_models.labels import Labeled, label_completions
from minigrpo.lab.reward_models.model import ValueModel
from minigrpo.lab.reward_models.train import evaluate, first_below_half, train_reward_model
from minigrpo.rewards import outcome_reward, step_rewards
from minigrpo.tokenizer import decode


def test_outcome_labels_are_the_verifiers_verdict_read_at_the_last_token(easy_warm_start):
    policy, problems = easy_warm_start
    data = label_completions(policy, problems[:6], "outcome", 3, 10, 1.0, torch.Generator().manual_seed(0),
                             progress=False)
    assert len(data.texts) == 18 and data.positions.shape == (18, 1)
    for n, (problem, text) in enumerate(zip(data.problems, data.texts)):
        assert data.labels[n, 0] == data.verifier[n, 0] == outcome_reward(problem, text)
        assert data.positions[n, 0] == data.mask[n].sum() - 1
        assert decode(data.completion[n][data.mask[n]].tolist()) == text


def test_process_labels_are_the_value_after_each_step_soft_or_any_success_hard(monkeypatch, easy_warm_start):
    """Each step's label is V_MC of the prefix that ends with the step: checked with a V_MC that encodes its prefix."""
    policy, problems = easy_warm_start
    asked = []

    def fake_values(policy, problems, prefixes, K, max_new_tokens, temperature, generator):
        asked.extend(zip(problems, prefixes))
        values = torch.tensor([min(len(p), 20) / 20 * (K == 5) for p in prefixes], dtype=torch.float64)
        values[::3] = 0.0  # some prefixes no continuation finishes right
        return values, torch.zeros(len(prefixes))
    monkeypatch.setattr(labels_module, "monte_carlo_values", fake_values)
    for label in ("soft", "hard"):
        asked.clear()
        data = label_completions(policy, problems[:4], "process", 2, 10, 1.0, torch.Generator().manual_seed(0),
                                 label=label, mc_samples=5, progress=False)
        k = 0
        for n, (problem, text) in enumerate(zip(data.problems, data.texts)):
            steps = step_rewards(problem, text)
            ids = data.completion[n][data.mask[n]].tolist()
            for s, score in enumerate(steps):
                end = data.positions[n, s].item()
                assert data.weight[n, s] == 1 and data.verifier[n, s] == score.reward
                assert asked[k][0] is problem and asked[k][1] == ids[: end + 1]  # the prefix through step s
                value = 0.0 if k % 3 == 0 else min(end + 1, 20) / 20
                assert data.labels[n, s].item() == pytest.approx(value if label == "soft" else float(value > 0))
                k += 1
            assert not data.weight[n, len(steps):].any() and data.positions[n, len(steps) - 1] == len(ids) - 1
        assert k == len(asked)


def test_the_last_steps_label_is_the_verdict_itself(easy_warm_start):
    policy, problems = easy_warm_start
    data = label_completions(policy, problems[:6], "process", 2, 10, 1.0, torch.Generator().manual_seed(1),
                             label="soft", mc_samples=3, progress=False)
    last = data.weight.sum(-1).long() - 1
    verdicts = torch.tensor([outcome_reward(p, t) for p, t in zip(data.problems, data.texts)])
    assert torch.equal(data.labels[torch.arange(len(last)), last], verdicts)
    assert ((data.labels * 3).round() == data.labels * 3).all()  # a fraction of K = 3 continuations


def hand_made(kind="process"):
    """Three completions, two steps each (the third has one): labels, verifier labels, positions."""
    labels = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    verifier = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    weight = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    empty = torch.zeros(3, 1, dtype=torch.long)
    return Labeled(kind, [None] * 3, ["a", "b", "c"], empty, empty.bool(), empty, empty.bool(),
                   torch.zeros(3, 2, dtype=torch.long), weight, labels, verifier)


def test_evaluate_matches_its_definitions_in_numpy(monkeypatch):
    data = hand_made()
    logits = torch.tensor([[2.0, -1.0], [0.5, -3.0], [-0.2, 9.0]])
    monkeypatch.setattr(train_module, "score_logits", lambda model, *rows: logits[: len(rows[0])])
    report = evaluate(torch.nn.Linear(1, 1), data)
    w = data.weight.numpy() > 0
    p = (1 / (1 + np.exp(-logits.double().numpy())))[w]
    y, v = data.labels.numpy()[w], data.verifier.numpy()[w]
    assert report["accuracy"] == pytest.approx(np.mean((p > 0.5) == (y > 0.5)))
    assert report["verifier_accuracy"] == pytest.approx(np.mean((p > 0.5) == (v > 0.5)))
    assert report["brier"] == pytest.approx(np.mean((p - v) ** 2))
    bins = np.minimum((p * 10).astype(int), 9)
    ece = sum((bins == b).sum() / len(p) * abs(p[bins == b].mean() - v[bins == b].mean()) for b in set(bins))
    assert report["ece"] == pytest.approx(ece)
    assert report["label_verifier_agreement"] == pytest.approx(np.mean(y == v))
    # verifier's first wrong step: row 0 -> 1, row 1 -> 0, row 2 -> none (its second step is padding)
    # the model's first score below 1/2: row 0 -> 1 (found), row 1 -> 1 (missed)
    assert report["completions_with_error"] == 2 and report["first_error_found"] == pytest.approx(0.5)
    assert report["first_error_labels"] == pytest.approx(1.0)  # labels: row 0 -> 1, row 1 -> 0


def test_first_below_half_skips_unlabeled_positions():
    values = torch.tensor([[0.9, 0.1, 0.0], [0.7, 0.8, 0.2], [0.6, 0.6, 0.6]])
    weight = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    assert first_below_half(values, weight).tolist() == [1, -1, -1]


def tiny_config(**changes):
    return RewardModelConfig(**{"prompts": 24, "samples_per_prompt": 4, "heldout_prompts": 8, "steps": 40,
                                "batch_size": 32, "lr": 3e-3, "max_new_tokens": 10, "eval_every": 20, **changes})


@pytest.mark.parametrize("kind", ["outcome", "process"])
def test_training_fits_the_labels(easy_warm_start, kind):
    policy, problems = easy_warm_start
    records = []
    model, report = train_reward_model(policy, tiny_config(kind=kind), problems, problems[:8], log=records.append,
                                       progress=False)
    losses = [r["loss"] for r in records if "loss" in r]
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:5])  # from log 2 at a zero head, down
    assert isinstance(model, ValueModel) and not model.training
    assert set(report) >= {"loss", "accuracy", "verifier_accuracy", "brier", "ece", "calibration"}
    assert (kind == "process") == ("first_error_found" in report)


def test_training_refuses_more_prompts_than_the_splits_hold(easy_warm_start):
    policy, problems = easy_warm_start
    with pytest.raises(ValueError, match="prompts"):
        train_reward_model(policy, tiny_config(prompts=len(problems) + 1), problems, problems[:8], progress=False)


def test_config_refuses_step_labels_for_an_outcome_model():
    with pytest.raises(ValueError, match="kind='process'"):
        RewardModelConfig(kind="outcome", label="soft")
    with pytest.raises(ValueError, match="kind"):
        RewardModelConfig(kind="judge")


def test_the_step_ends_of_process_labels_are_the_verifiers_split(easy_warm_start):
    policy, problems = easy_warm_start
    data = label_completions(policy, problems[:3], "process", 2, 10, 1.0, torch.Generator().manual_seed(2),
                             mc_samples=2, progress=False)
    from minigrpo.grpo import sample_group
    group = sample_group(policy, problems[:3], 2, 10, 1.0, torch.Generator().manual_seed(2))
    _, ends, mask = score_steps(step_rewards, group)
    S = ends.shape[-1]
    assert torch.equal(data.positions[:, :S], ends.flatten(0, 1)) and torch.equal(data.weight[:, :S] > 0,
                                                                                   mask.flatten(0, 1))


# --- command line ---

def small_run(tmp_path):
    from test_cli import small_data
    small_data(tmp_path)
    return ["--init", str(tmp_path / "init.pt"), "--data", str(tmp_path), "--device", "cpu"]


def test_reward_model_command_writes_a_checkpoint_grpo_can_use(tmp_path, capsys):
    common = small_run(tmp_path)
    out = tmp_path / "prm"
    assert main(["reward-model", "--kind", "process", "--prompts", "16", "--heldout-prompts", "8", "--steps", "3",
                 "--max-new-tokens", "8", "--mc-samples", "2", "--out", str(out), *common]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {p.name for p in out.iterdir()} == {"config.json", "run.json", "metrics.jsonl", "reward_model.pt"}
    assert "first_error_found" in result
    grpo = ["grpo", "--steps", "1", "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "8", *common]
    assert main([*grpo, "--supervision", "process", "--reward-model", str(out / "reward_model.pt"),
                 "--out", str(tmp_path / "run")]) == 0
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert 0 <= records[-1]["learned_reward_mean"] <= 1
    capsys.readouterr()
    # an outcome run cannot use a process model; a reward model is not a policy, nor a policy a reward model
    assert main([*grpo, "--reward-model", str(out / "reward_model.pt"), "--out", str(tmp_path / "r2")]) == 2
    assert "is a process reward model" in capsys.readouterr().err
    assert main([*grpo[:-6], "--init", str(out / "reward_model.pt"), "--data", str(tmp_path), "--device", "cpu",
                 "--out", str(tmp_path / "r3")]) == 2
    assert "holds a ValueModel, not a GPT" in capsys.readouterr().err
    assert main([*grpo, "--reward-model", str(tmp_path / "init.pt"), "--out", str(tmp_path / "r4")]) == 2
    assert "holds a GPT, not a ValueModel" in capsys.readouterr().err


def test_a_reward_model_checkpoint_keeps_its_kind(tmp_path, tiny_model):
    from minigrpo.checkpoint import load_checkpoint
    save_checkpoint(ValueModel.from_policy(tiny_model), tmp_path / "rm.pt", meta={"kind": "outcome"})
    model, meta = load_checkpoint(tmp_path / "rm.pt", build=ValueModel)
    assert meta["kind"] == "outcome" and isinstance(model, ValueModel)
