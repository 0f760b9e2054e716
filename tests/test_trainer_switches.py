"""Every config value that reaches an equation gets there: one-step runs with the step functions spied on, at
defaults and at other values. The paper's numbers through both loops (``train_grpo``/``train_ppo`` and the lab's
``train``), the lab's switches through the lab's loop.

A run with the same seed samples the same completions whatever the switch, so what a loop hands to a step can be
compared with the default run's. The equations themselves are tested in the step files' tests and in
test_variants.py; that the lab's loop at its defaults is the paper's, bit for bit, in test_lab_loop.py.
"""

import copy

import pytest
import torch

import minigrpo.grpo.trainer as grpo_trainer
import minigrpo.lab.loop as lab_loop
import minigrpo.ppo.trainer as ppo_trainer
from minigrpo.config import GRPOConfig, PPOConfig
from minigrpo.grpo import kl_k3, score_outcomes, step1_sampling
from minigrpo.grpo.trainer import train_grpo
from minigrpo.lab.config import LabGRPOConfig, LabPPOConfig
from minigrpo.lab.loop import recipe
from minigrpo.lab.scale import World, fast
from minigrpo.lab.variants import credit, variants
from minigrpo.ppo.trainer import train_ppo
from minigrpo.rewards import outcome_reward

G = 4
SMALL = {"steps": 1, "prompts_per_step": 6, "group_size": G, "max_new_tokens": 10, "eval_every": 1000}


class Spy:
    """Records the arguments and results of the functions it wraps, in call order; ``on`` adds a module's."""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch
        self.calls: dict[str, list] = {}

    def on(self, module, names, prefix: str = "") -> "Spy":
        """Spy on ``module.name`` for each name (an earlier spy there is replaced, not wrapped: it stops recording)."""
        for name in names:
            self.calls[prefix + name] = []
            fn = getattr(module, name)
            self.monkeypatch.setattr(module, name, self.wrap(prefix + name, getattr(fn, "spied", fn)))
        return self

    def wrap(self, key, fn):
        def spy(*args, **kwargs):
            result = fn(*args, **kwargs)
            self.calls[key].append((args, kwargs, result))
            return result
        spy.spied = fn
        return spy

    def args(self, name, i=0):
        return self.calls[name][i][0]

    def kwargs(self, name, i=0):
        return self.calls[name][i][1]

    def result(self, name, i=0):
        return self.calls[name][i][2]


# The paper's loop calls its steps by the names it imported; the lab's loop reads sampling and log-probs from the
# step module (or the fast path's) when it starts, and calls the rest by its own imported names or as variants.X.
PAPER_STEPS = ["sample_group", "group_logprobs", "group_advantages", "process_advantages", "clipped_surrogate",
               "grpo_objective", "clip_grad_norm_"]
LAB_STEPS = ["group_advantages", "process_advantages", "clipped_surrogate", "grpo_objective", "clip_grad_norm_"]
VARIANTS = ["advantages", "rescaled_advantages", "gdpo_advantages", "sequence_ratio", "clip_higher_surrogate",
            "objective", "aggregate", "kl_in_loss", "random_rewards"]
CREDIT = ["monte_carlo_values", "monte_carlo_step_advantages", "flip_step_labels", "mean_over_steps"]


def run_grpo(monkeypatch, easy_warm_start, loop="lab", **settings) -> Spy:
    """One small run on a copy of the warm start: the paper's loop (GRPOConfig) or the lab's (LabGRPOConfig)."""
    model, train = easy_warm_start
    spy = Spy(monkeypatch)
    if loop == "paper":
        spy.on(grpo_trainer, PAPER_STEPS)
        train_grpo(copy.deepcopy(model), GRPOConfig(**{**SMALL, **settings}), train, train[:2], progress=False)
        return spy
    spy.on(step1_sampling, ["sample_group", "group_logprobs"]).on(fast, ["sample_group", "group_logprobs"], "fast.")
    spy.on(lab_loop, LAB_STEPS).on(variants, VARIANTS).on(credit, CREDIT)
    lab_loop.train(copy.deepcopy(model), LabGRPOConfig(**{**SMALL, **settings}), train, train[:2], progress=False)
    return spy


def completion_adv(spy) -> torch.Tensor:
    """The advantage the objective saw, one per completion: [B, G]."""
    return spy.args("clipped_surrogate")[1][..., 0]


@pytest.fixture
def default(monkeypatch, easy_warm_start):
    """The lab's loop at its defaults (the paper's loop, bit for bit: test_lab_loop.py)."""
    spy = run_grpo(monkeypatch, easy_warm_start)
    assert (completion_adv(spy) != 0).any()  # the seed gives groups with signal, so comparisons mean something
    return spy


# --- the paper's numbers, through both loops ---


@pytest.mark.parametrize("loop", ["paper", "lab"])
def test_defaults_call_the_paper_steps(monkeypatch, easy_warm_start, loop):
    spy = run_grpo(monkeypatch, easy_warm_start, loop)
    assert spy.args("group_advantages")[1] == 1e-4
    assert spy.args("clipped_surrogate")[2] == 0.2
    assert spy.args("grpo_objective")[3] == 0.04
    assert spy.args("clip_grad_norm_")[1] == 1.0
    assert len(spy.calls["process_advantages"]) == 0


def test_at_its_defaults_the_lab_calls_no_variant_and_no_fast_path(default):
    assert all(len(default.calls[name]) == 0 for name in VARIANTS + CREDIT + ["fast.sample_group",
                                                                             "fast.group_logprobs"])


@pytest.mark.parametrize("loop", ["paper", "lab"])
@pytest.mark.parametrize("field, value, step, position", [
    ("adv_eps", 0.5, "group_advantages", 1),
    ("clip_eps", 0.1, "clipped_surrogate", 2),
    ("kl_coef", 0.3, "grpo_objective", 3),
    ("grad_clip", 0.25, "clip_grad_norm_", 1),
])
def test_each_number_reaches_its_equation(monkeypatch, easy_warm_start, default, loop, field, value, step, position):
    spy = run_grpo(monkeypatch, easy_warm_start, loop, **{field: value})
    assert spy.args(step)[position] == value
    assert torch.equal(completion_adv(spy) != 0, completion_adv(default) != 0)  # same completions, same groups


@pytest.mark.parametrize("loop", ["paper", "lab"])
def test_adv_eps_changes_the_advantages_as_the_formula_says(monkeypatch, easy_warm_start, loop):
    spy = run_grpo(monkeypatch, easy_warm_start, loop, adv_eps=0.5)
    rewards = spy.args("group_advantages")[0]
    torch.testing.assert_close(rewards, score_outcomes(outcome_reward, spy.result("sample_group")))
    std = rewards.std(dim=1, keepdim=True)
    expected = torch.where(std > 0, (rewards - rewards.mean(1, keepdim=True)) / (std + 0.5), 0.0)
    torch.testing.assert_close(completion_adv(spy), expected)


@pytest.mark.parametrize("loop", ["paper", "lab"])
def test_temperature_shapes_sampling_and_every_logprob_of_the_update(monkeypatch, easy_warm_start, loop):
    spy = run_grpo(monkeypatch, easy_warm_start, loop, temperature=0.7, num_inner_steps=2)
    assert spy.args("sample_group")[4] == 0.7
    assert [args[2] for args, _, _ in spy.calls["group_logprobs"]] == [0.7, 0.7, 0.7]  # pi_ref, then mu = 2 of pi_theta
    # at the first inner step pi_theta = pi_old: the ratio is 1 (to rounding) at any temperature
    ratio = spy.args("clipped_surrogate")[0]
    torch.testing.assert_close(ratio, torch.ones_like(ratio), rtol=0, atol=1e-5)


@pytest.mark.parametrize("loop", ["paper", "lab"])
def test_num_inner_steps_is_the_number_of_gradient_steps_per_batch(monkeypatch, easy_warm_start, loop):
    spy = run_grpo(monkeypatch, easy_warm_start, loop, num_inner_steps=3)
    assert len(spy.calls["grpo_objective"]) == len(spy.calls["clip_grad_norm_"]) == 3
    assert len(spy.calls["sample_group"]) == 1


@pytest.mark.parametrize("loop", ["paper", "lab"])
def test_batch_shape_is_prompts_per_step_by_group_size(monkeypatch, easy_warm_start, loop):
    spy = run_grpo(monkeypatch, easy_warm_start, loop, prompts_per_step=3, group_size=5)
    assert spy.result("sample_group").completions.shape[:2] == (3, 5)
    assert spy.args("sample_group")[2:4] == (5, SMALL["max_new_tokens"])


@pytest.mark.parametrize("loop", ["paper", "lab"])
def test_process_supervision_replaces_group_normalization(monkeypatch, easy_warm_start, loop):
    spy = run_grpo(monkeypatch, easy_warm_start, loop, supervision="process", adv_eps=0.5)
    assert len(spy.calls["group_advantages"]) == 0 and spy.args("process_advantages")[4] == 0.5
    assert torch.equal(spy.args("clipped_surrogate")[1], spy.result("process_advantages"))


def test_the_paper_config_refuses_the_labs_supervision():
    with pytest.raises(ValueError, match="supervision must be one of"):
        GRPOConfig(supervision="monte_carlo")


@pytest.mark.parametrize("loop", ["paper", "lab"])
def test_reference_is_reset_to_the_policy_every_k_steps(monkeypatch, easy_warm_start, loop):
    """Algorithm 1's outer loop: pi_ref <- pi_theta before steps 1, K+1, 2K+1, ...; the KL there is exactly 0."""
    model, train = easy_warm_start
    policy = copy.deepcopy(model)
    module = grpo_trainer if loop == "paper" else step1_sampling
    reference_equals_policy, original = [], module.group_logprobs

    def spy(model, group, temperature=1.0):
        if model is not policy:  # the reference's forward pass, before this step's update
            pairs = zip(model.state_dict().values(), policy.state_dict().values())
            reference_equals_policy.append(all(torch.equal(a, b) for a, b in pairs))
        return original(model, group, temperature)

    monkeypatch.setattr(module, "group_logprobs", spy)
    records, settings = [], {**SMALL, "steps": 5, "ref_reset_every": 2, "lr": 1e-2}
    if loop == "paper":
        train_grpo(policy, GRPOConfig(**settings), train, train[:2], log=records.append, progress=False)
    else:  # with a variant's objective, so the lab's reset is not only reached on the paper's path
        lab_loop.train(policy, LabGRPOConfig(**settings, aggregation="dapo"), train, train[:2], log=records.append,
                       progress=False)
    assert reference_equals_policy == [True, False, True, False, True]
    kl = [r["kl"] for r in records[1:]]
    assert kl[0] == kl[2] == kl[4] == 0.0 and kl[1] > 0 and kl[3] > 0


def test_the_recipe_resets_the_reference_at_the_start_of_each_iteration():
    resets = recipe(LabGRPOConfig(ref_reset_every=4), World()).resets_reference
    assert [s for s in range(1, 12) if resets(s)] == [1, 5, 9]  # step 1: pi_ref is already pi_theta, a no-op
    assert not any(recipe(LabGRPOConfig(), World()).resets_reference(s) for s in range(1, 12))


@pytest.mark.parametrize("loop", ["paper", "lab"])
def test_without_resets_the_reference_stays_the_warm_start(easy_warm_start, loop):
    model, train = easy_warm_start
    records, settings = [], {**SMALL, "steps": 3, "lr": 1e-2}
    if loop == "paper":
        train_grpo(copy.deepcopy(model), GRPOConfig(**settings), train, train[:2], log=records.append, progress=False)
    else:
        lab_loop.train(copy.deepcopy(model), LabGRPOConfig(**settings), train, train[:2], log=records.append,
                       progress=False)
    assert [r["kl"] > 0 for r in records[1:]] == [False, True, True]


def test_learning_rates_reach_their_optimizers(monkeypatch, easy_warm_start):
    model, train = easy_warm_start
    made, adamw = {}, torch.optim.AdamW

    def learning_rates(trainer, cfg):
        """{whose parameters: the learning rate of their optimizer} of one run."""
        policy = copy.deepcopy(model)

        def recording_adamw(params, **kwargs):
            params = list(params)
            made["policy" if params[0] is next(policy.parameters()) else "critic"] = kwargs["lr"]
            return adamw(params, **kwargs)

        made.clear()
        monkeypatch.setattr(torch.optim, "AdamW", recording_adamw)
        trainer(policy, cfg, train, train[:2], progress=False)
        return dict(made)

    assert learning_rates(train_grpo, GRPOConfig(**SMALL, lr=1.5e-4)) == {"policy": 1.5e-4}
    assert learning_rates(train_ppo, PPOConfig(**SMALL, lr=2.5e-4, critic_lr=3.5e-3)) == {"policy": 2.5e-4,
                                                                                         "critic": 3.5e-3}
    assert learning_rates(lab_loop.train, LabGRPOConfig(**SMALL, lr=4.5e-4)) == {"policy": 4.5e-4}
    assert learning_rates(lab_loop.train, LabPPOConfig(**SMALL, lr=5.5e-4, critic_lr=6.5e-3)) == {
        "policy": 5.5e-4, "critic": 6.5e-3}


PPO_STEPS = ["kl_penalized_rewards", "gae", "whiten", "clipped_surrogate", "clipped_value_loss", "clip_grad_norm_"]


@pytest.mark.parametrize("loop", ["paper", "lab"])
@pytest.mark.parametrize("switches", [{}, {"gamma": 0.9, "lam": 0.5, "kl_coef": 0.2, "value_clip_eps": 0.05,
                                         "clip_eps": 0.1, "grad_clip": 0.3, "whiten_advantages": False}])
def test_ppo_settings_reach_their_equations(monkeypatch, easy_warm_start, loop, switches):
    model, train = easy_warm_start
    spy = Spy(monkeypatch).on(ppo_trainer if loop == "paper" else lab_loop, PPO_STEPS)
    if loop == "paper":
        cfg = PPOConfig(**{**SMALL, **switches})
        train_ppo(copy.deepcopy(model), cfg, train, train[:2], progress=False)
    else:
        cfg = LabPPOConfig(**{**SMALL, **switches})
        lab_loop.train(copy.deepcopy(model), cfg, train, train[:2], progress=False)
    assert spy.args("kl_penalized_rewards")[4] == cfg.kl_coef
    assert spy.args("gae")[3:] == (cfg.gamma, cfg.lam)
    assert len(spy.calls["whiten"]) == int(cfg.whiten_advantages)
    advantages = spy.result("whiten") if cfg.whiten_advantages else spy.result("gae")[0]
    assert torch.equal(spy.args("clipped_surrogate")[1], advantages)
    assert spy.args("clipped_surrogate")[2] == cfg.clip_eps
    assert spy.args("clipped_value_loss")[4] == cfg.value_clip_eps
    assert [args[1] for args, _, _ in spy.calls["clip_grad_norm_"]] == [cfg.grad_clip] * 2  # policy, critic


# --- the lab's switches, through the lab's loop ---


@pytest.mark.parametrize("config", [LabGRPOConfig, LabPPOConfig])
def test_fast_samples_and_scores_every_logprob_with_the_fast_path(monkeypatch, easy_warm_start, config):
    """--fast (minigrpo/lab/scale/fast.py): the same completions from the same seed, by the fast functions."""
    model, train = easy_warm_start
    runs = []
    for is_fast in (False, True):
        spy = Spy(monkeypatch).on(step1_sampling, ["sample_group", "group_logprobs"])
        spy.on(fast, ["sample_group", "group_logprobs"], "fast.")
        cfg = config(**SMALL, temperature=0.8, num_inner_steps=2, fast=is_fast)
        lab_loop.train(copy.deepcopy(model), cfg, train, train[:2], progress=False)
        runs.append(spy)
    default, spy = runs
    for run, on, off in ((spy, "fast.", ""), (default, "", "fast.")):
        assert len(run.calls[on + "sample_group"]) == 1 and len(run.calls[off + "sample_group"]) == 0
        assert [args[2] for args, _, _ in run.calls[on + "group_logprobs"]] == [0.8] * 3  # pi_ref, mu = 2 of pi_theta
        assert len(run.calls[off + "group_logprobs"]) == 0
    assert spy.args("fast.sample_group")[2:5] == (G, SMALL["max_new_tokens"], 0.8)
    assert torch.equal(spy.result("fast.sample_group").completions, default.result("sample_group").completions)


def test_step_label_noise_flips_the_step_rewards_process_advantages_see(monkeypatch, easy_warm_start):
    spy = run_grpo(monkeypatch, easy_warm_start, supervision="process", step_label_noise=0.3, adv_eps=0.5)
    step_r, step_mask, p, _ = spy.args("flip_step_labels")
    assert p == 0.3 and torch.equal(spy.args("process_advantages")[0], spy.result("flip_step_labels"))
    assert (spy.result("flip_step_labels") != step_r).any()  # 0.3 of a few dozen steps: some flipped
    assert spy.args("process_advantages")[4] == 0.5  # the paper's eps, on the lab's path


def test_process_scale_mean_divides_by_the_number_of_steps(monkeypatch, easy_warm_start):
    spy = run_grpo(monkeypatch, easy_warm_start, supervision="process", process_scale="mean")
    steps = spy.args("process_advantages")[2].sum(-1, keepdim=True)  # step_mask [B, G, S] -> n_i
    torch.testing.assert_close(spy.args("clipped_surrogate")[1], spy.result("process_advantages") / steps)
    assert len(run_grpo(monkeypatch, easy_warm_start, supervision="process").calls["mean_over_steps"]) == 0


def test_monte_carlo_supervision_scales_vineppo_advantages_from_k_continuations(monkeypatch, easy_warm_start):
    spy = run_grpo(monkeypatch, easy_warm_start, supervision="monte_carlo", mc_samples=3, temperature=0.9)
    _, group, rewards, K, budget, temperature, _ = spy.args("monte_carlo_step_advantages")
    assert (K, budget, temperature) == (3, SMALL["max_new_tokens"], 0.9)
    assert spy.args("monte_carlo_values")[3] == 3 and len(spy.calls["group_advantages"]) == 0
    assert group is spy.result("sample_group")
    torch.testing.assert_close(rewards, score_outcomes(outcome_reward, group))  # the outcome ends each completion
    raw, mask = spy.result("monte_carlo_step_advantages"), group.mask
    scaled = torch.where(mask, raw / (raw[mask].std() + 1e-8), 0.0)  # divided by the std, not centered
    torch.testing.assert_close(spy.args("clipped_surrogate")[1], scaled)


def test_leave_one_out_scales_each_advantage_by_g_over_g_minus_1(monkeypatch, easy_warm_start, default):
    spy = run_grpo(monkeypatch, easy_warm_start, baseline="leave_one_out")
    torch.testing.assert_close(completion_adv(spy), G / (G - 1) * completion_adv(default))
    assert len(spy.calls["group_advantages"]) == 0 and spy.args("rescaled_advantages")[2:4] == ("leave_one_out",
                                                                                               "group")


def test_no_scale_keeps_the_reward_units(monkeypatch, easy_warm_start, default):
    # Dr. GRPO: rewards are 0 or 1, so in a group with both, right minus wrong is exactly 1
    adv, before = completion_adv(run_grpo(monkeypatch, easy_warm_start, adv_scale="none")), completion_adv(default)
    signal = before.abs().sum(1) > 0
    torch.testing.assert_close((adv.amax(1) - adv.amin(1))[signal], torch.ones(int(signal.sum())))
    assert torch.equal(torch.sign(adv), torch.sign(before))


def test_batch_scale_uses_one_divisor_for_every_group(monkeypatch, easy_warm_start, default):
    adv, before = completion_adv(run_grpo(monkeypatch, easy_warm_start, adv_scale="batch")), completion_adv(default)
    spread = (adv.amax(1) - adv.amin(1))[before.abs().sum(1) > 0]
    torch.testing.assert_close(spread, torch.full_like(spread, spread[0].item()))  # 1 / (batch std + eps)
    assert torch.equal(torch.sign(adv), torch.sign(before))


def test_gdpo_with_one_component_divides_step_3_by_its_batch_std(monkeypatch, easy_warm_start, default):
    adv = completion_adv(run_grpo(monkeypatch, easy_warm_start, multi_reward_norm="gdpo"))
    before = completion_adv(default)
    torch.testing.assert_close(adv, before / (before.std() + 1e-4))


@pytest.mark.parametrize("switch, step", [({"baseline": "leave_one_out"}, "rescaled_advantages"),
                                          ({"multi_reward_norm": "gdpo"}, "gdpo_advantages")])
def test_adv_eps_reaches_the_variants_normalizations(monkeypatch, easy_warm_start, switch, step):
    spy = run_grpo(monkeypatch, easy_warm_start, adv_eps=0.5, **switch)
    eps = spy.args(step)[2] if step == "gdpo_advantages" else spy.args(step)[1]
    assert eps == 0.5


def test_reward_weights_reach_the_advantages_and_the_log(monkeypatch, easy_warm_start):
    model, train = easy_warm_start
    records = []
    cfg = LabGRPOConfig(**{**SMALL, "steps": 2}, reward_weights={"correct": 1.0, "format": 0.5, "length": 0.5})
    spy = Spy(monkeypatch).on(variants, ["advantages"])
    lab_loop.train(copy.deepcopy(model), cfg, train, train[:2], log=records.append, progress=False)
    assert spy.args("advantages")[2].reward_weights == {"correct": 1.0, "format": 0.5, "length": 0.5}
    assert 0 <= records[1]["reward_format"] <= 1 and -1 <= records[1]["reward_length"] <= 0
    assert "reward_correct" not in records[1]  # that is reward_mean


def test_random_reward_replaces_the_verifiers_reward_in_step_3(monkeypatch, easy_warm_start):
    spy = run_grpo(monkeypatch, easy_warm_start, random_reward=0.3)
    rewards, p, _ = spy.args("random_rewards")
    verifier = score_outcomes(outcome_reward, spy.result("sample_group"))
    assert p == 0.3 and torch.equal(rewards, verifier)  # it is handed the verifier's rewards, for their shape
    drawn = spy.result("random_rewards")
    assert torch.equal(spy.args("group_advantages")[0], drawn) and set(drawn.unique().tolist()) <= {0.0, 1.0}


def test_ratio_level_sequence_gives_the_surrogate_one_ratio_per_completion(monkeypatch, easy_warm_start):
    spy = run_grpo(monkeypatch, easy_warm_start, ratio_level="sequence", clip_eps=3e-4, num_inner_steps=2)
    assert len(spy.calls["sequence_ratio"]) == 2
    ratio, mask = spy.args("clipped_surrogate", 1)[0], spy.result("sample_group").mask
    assert spy.args("clipped_surrogate", 1)[2] == 3e-4
    per_completion = torch.where(mask, ratio, ratio.amax(-1, keepdim=True))
    assert torch.equal(per_completion.amin(-1), ratio.amax(-1))  # one value on every real token


@pytest.mark.parametrize("estimator", ["k2", "k3_ratio"])
def test_kl_estimator_replaces_the_kl_term_of_the_loss(monkeypatch, easy_warm_start, estimator):
    spy = run_grpo(monkeypatch, easy_warm_start, kl_estimator=estimator, kl_coef=0.2, num_inner_steps=2)
    logp, old_logp, ref_logp, name = spy.args("kl_in_loss", 1)
    assert name == estimator and torch.equal(old_logp, spy.result("sample_group").old_logp)
    expected = (0.5 * (logp - ref_logp) ** 2 if estimator == "k2"
                else torch.exp(logp - old_logp) * (torch.exp(ref_logp - logp) - (ref_logp - logp) - 1))
    torch.testing.assert_close(spy.result("kl_in_loss", 1), expected)
    assert expected.abs().max() > 0  # the second inner step: pi_theta has moved away from pi_ref
    assert logp.requires_grad  # the ratio of k3_ratio is not detached: TRL's use_bias_correction_kl
    # beta weighs it: the objective averages surrogate - 0.2 KL, and the paper's step 6 is not called
    per_token = spy.args("aggregate", 1)[0]
    torch.testing.assert_close(per_token, spy.result("clipped_surrogate", 1) - 0.2 * expected)
    assert len(spy.calls["grpo_objective"]) == 0


def test_k1_reward_penalizes_the_rewards_and_leaves_no_kl_in_the_loss(monkeypatch, easy_warm_start):
    spy = run_grpo(monkeypatch, easy_warm_start, kl_estimator="k1_reward", kl_coef=0.5, steps=2)
    group, ref_logp = spy.result("sample_group", 1), spy.args("advantages", 1)[3]  # step 2: pi_old != pi_ref
    rewards = score_outcomes(outcome_reward, group)
    penalty = 0.5 * torch.where(group.mask, group.old_logp - ref_logp, 0.0).sum(-1)
    assert penalty.abs().max() > 0
    penalized = rewards - penalty
    std = penalized.std(1, keepdim=True)
    expected = torch.where(penalized.amax(1, keepdim=True) > penalized.amin(1, keepdim=True),
                           (penalized - penalized.mean(1, keepdim=True)) / (std + 1e-4), 0.0)
    torch.testing.assert_close(spy.args("clipped_surrogate", 1)[1][..., 0], expected)
    assert torch.equal(spy.result("kl_in_loss", 1), torch.zeros_like(spy.result("kl_in_loss", 1)))


def test_clip_eps_high_reaches_clip_higher(monkeypatch, easy_warm_start):
    spy = run_grpo(monkeypatch, easy_warm_start, clip_eps_high=0.28, clip_eps=0.15)
    assert spy.kwargs("clip_higher_surrogate") == {"clip_eps": 0.15, "clip_eps_high": 0.28}
    assert len(spy.calls["clipped_surrogate"]) == 0
    assert spy.args("grpo_objective")[0] is spy.result("clip_higher_surrogate")  # what step 6 averages


@pytest.mark.parametrize("how", ["dapo", "dr_grpo"])
def test_aggregation_and_the_generation_budget_reach_the_objective(monkeypatch, easy_warm_start, how):
    spy = run_grpo(monkeypatch, easy_warm_start, aggregation=how, kl_coef=0.1)
    per_token, mask, *rest = spy.args("aggregate")
    assert tuple(rest) == (how, 10, None, 1)  # aggregation, max_new_tokens; one process: no whole-batch counts
    assert torch.equal(mask, spy.result("sample_group").mask)
    kl = kl_k3(*spy.args("kl_in_loss")[0:3:2])  # k3 of logp and ref_logp
    torch.testing.assert_close(per_token, spy.result("clipped_surrogate") - 0.1 * kl)
    assert spy.result("objective") is spy.result("aggregate") and len(spy.calls["grpo_objective"]) == 0


# --- what the lab's PPO critic learns from ---


def run_ppo(monkeypatch, easy_warm_start, **switches) -> tuple[Spy, torch.nn.Module, torch.nn.Module]:
    model, train = easy_warm_start
    spy = Spy(monkeypatch).on(step1_sampling, ["sample_group"]).on(lab_loop, PPO_STEPS + ["completion_values"])
    policy = copy.deepcopy(model)
    critic = lab_loop.train(policy, LabPPOConfig(**{**SMALL, **switches}), train, train[:2], progress=False)
    return spy, policy, critic


def test_monte_carlo_value_targets_are_the_reward_to_go_while_the_advantages_keep_lambda(monkeypatch,
                                                                                      easy_warm_start):
    spy, _, _ = run_ppo(monkeypatch, easy_warm_start, value_target="monte_carlo", lam=0.5, gamma=0.9)
    token_rewards, _, mask = spy.args("gae")[:3]
    assert [args[3:] for args, _, _ in spy.calls["gae"]] == [(0.9, 0.5), (0.9, 1.0)]
    assert torch.equal(spy.args("gae", 1)[1], torch.zeros_like(token_rewards))  # lambda = 1 needs no V
    # the critic's targets, by hand: the discounted sum of this and later token rewards, 0 on padding
    by_hand = torch.zeros_like(token_rewards)
    running = torch.zeros(token_rewards.shape[:2])
    for t in reversed(range(token_rewards.shape[-1])):
        running = torch.where(mask[..., t], token_rewards[..., t] + 0.9 * running, 0.0)
        by_hand[..., t] = running
    torch.testing.assert_close(spy.args("clipped_value_loss")[2], by_hand)
    torch.testing.assert_close(spy.args("clipped_surrogate")[1], spy.result("whiten"))  # lambda = 0.5's, whitened
    assert torch.equal(spy.args("whiten")[0], spy.result("gae", 0)[0])


def test_value_epochs_is_the_number_of_critic_updates_per_inner_step(monkeypatch, easy_warm_start):
    spy, _, _ = run_ppo(monkeypatch, easy_warm_start, value_epochs=3, num_inner_steps=2)
    assert len(spy.calls["clipped_value_loss"]) == 6
    grad_clips = [args[1] for args, _, _ in spy.calls["clip_grad_norm_"]]
    assert len(grad_clips) == 2 + 6  # the policy's two steps, the critic's six
    # each update after the first reads V again, from the critic as the last update left it: 1 + 5 reads
    assert len(spy.calls["completion_values"]) == 6


def test_a_fresh_critic_does_not_start_from_the_policy(monkeypatch, easy_warm_start):
    model, train = easy_warm_start
    torch.manual_seed(SMALL.get("seed", 0))
    starts = {}
    for init in ("policy", "fresh"):
        critic = lab_loop.Critic(model, LabPPOConfig(**SMALL, critic_init=init), World())
        starts[init] = critic.model.body.state_dict()
    policy = model.state_dict()
    assert all(torch.equal(starts["policy"][k], policy[k]) for k in policy)
    assert not all(torch.equal(starts["fresh"][k], policy[k]) for k in policy)


def test_a_critic_can_start_from_another_gpt_checkpoint(tmp_path, easy_warm_start):
    from dataclasses import replace

    from minigrpo.checkpoint import save_checkpoint
    from minigrpo.model import GPT

    model, train = easy_warm_start
    torch.manual_seed(1)
    deeper = GPT(replace(model.cfg, n_layer=model.cfg.n_layer + 1))  # another size, the same tokens and block
    save_checkpoint(deeper, tmp_path / "deeper.pt")
    critic = lab_loop.Critic(model, LabPPOConfig(**SMALL, critic_init=str(tmp_path / "deeper.pt")), World())
    assert critic.model.cfg == deeper.cfg
    body = critic.model.body.state_dict()
    assert all(torch.equal(body[k], v) for k, v in deeper.state_dict().items())
    assert torch.count_nonzero(critic.model.head.weight) == 0  # the value head starts at 0, as from the policy
    short = GPT(replace(model.cfg, block_size=model.cfg.block_size - 1))
    save_checkpoint(short, tmp_path / "short.pt")
    with pytest.raises(ValueError, match="cannot read the policy's sequences"):
        lab_loop.Critic(model, LabPPOConfig(**SMALL, critic_init=str(tmp_path / "short.pt")), World())
    with pytest.raises(ValueError, match="does not exist"):
        lab_loop.Critic(model, LabPPOConfig(**SMALL, critic_init=str(tmp_path / "missing.pt")), World())


def test_critic_pretraining_regresses_v_on_monte_carlo_returns_before_the_first_rl_step(monkeypatch,
                                                                                       easy_warm_start):
    spy, _, _ = run_ppo(monkeypatch, easy_warm_start, critic_pretrain_steps=2)
    # two pretraining updates before RL, then the RL step's; the pretraining targets are the outcomes
    assert len(spy.calls["clipped_value_loss"]) == 3
    for i in range(2):
        values, old_values, returns, mask = spy.args("clipped_value_loss", i)[:4]
        assert torch.equal(old_values, values.detach())  # nothing to clip against yet
        outcome = torch.where(mask, returns, 0.0).amax(-1)  # lambda = gamma = 1: every token's target is r_i
        assert set(outcome.unique().tolist()) <= {0.0, 1.0}
        assert torch.equal(torch.where(mask, returns, 0.0), torch.where(mask, outcome[..., None], 0.0))
    grad_clips = spy.calls["clip_grad_norm_"]
    assert len(grad_clips) == 2 + 2  # two critic updates first, then the policy's and the critic's
    assert len(spy.calls["kl_penalized_rewards"]) == 3


def test_a_critic_at_the_states_between_steps_runs_gae_over_steps(monkeypatch, easy_warm_start):
    """critic_states "steps": R_j sums a step's token rewards, delta_j = R_j + gamma V(s_{j+1}) - V(s_j) with
    V(s_n) = 0, A_j = sum_l (gamma lambda)^l delta_{j+l} on every token of step j, and the critic regresses V(s_j)
    on A_j + V(s_j): by hand in float64, per completion, from what the loop sampled and read."""
    from minigrpo.prefix_values import step_boundaries

    spy, _, _ = run_ppo(monkeypatch, easy_warm_start, critic_states="steps", lam=0.5, gamma=0.9)
    group = spy.result("sample_group")
    token_rewards = spy.result("kl_penalized_rewards").double()
    values = spy.result("completion_values").detach().double()  # V before each token
    state_values, returns, state_mask = spy.args("clipped_value_loss")[1:4]  # V_old at the states, targets, mask
    advantages = spy.args("whiten")[0]
    B, G_, T = group.mask.shape
    for b in range(B):
        for g in range(G_):
            length = int(group.mask[b, g].sum())
            bounds = step_boundaries(group.texts[b][g], length)  # s_0 .. s_n as token indices
            n = len(bounds) - 1
            R = [token_rewards[b, g, bounds[j]:bounds[j + 1]].sum().item() for j in range(n)]
            V = [values[b, g, bounds[j]].item() for j in range(n)] + [0.0]
            A, running = [0.0] * n, 0.0
            for j in reversed(range(n)):
                running = R[j] + 0.9 * V[j + 1] - V[j] + 0.9 * 0.5 * running
                A[j] = running
            assert state_mask[b, g].sum().item() == n
            torch.testing.assert_close(state_values[b, g, :n].double(), torch.tensor(V[:n], dtype=torch.float64))
            torch.testing.assert_close(returns[b, g, :n].double(), torch.tensor(A, dtype=torch.float64) +
                                       torch.tensor(V[:n], dtype=torch.float64), rtol=1e-5, atol=1e-6)
            by_token = torch.zeros(T, dtype=torch.float64)
            for j in range(n):
                by_token[bounds[j]:bounds[j + 1]] = A[j]
            torch.testing.assert_close(advantages[b, g].double(), by_token, rtol=1e-5, atol=1e-6)


def test_a_critic_at_the_states_between_steps_is_trained_on_monte_carlo_targets_on_request(monkeypatch,
                                                                                         easy_warm_start):
    from minigrpo.prefix_values import step_boundaries

    spy, _, _ = run_ppo(monkeypatch, easy_warm_start, critic_states="steps", value_target="monte_carlo",
                        critic_pretrain_steps=1, gamma=0.9)
    returns, mask = spy.args("clipped_value_loss", 0)[2:4]  # pretraining: pi = pi_ref, no KL: the outcome, discounted
    rl_returns, rl_mask = spy.args("clipped_value_loss", 1)[2:4]
    token_rewards = spy.result("kl_penalized_rewards", 1).double()  # the RL step's
    group = spy.result("sample_group", 1)
    for b in range(group.mask.shape[0]):
        for g in range(group.mask.shape[1]):
            length = int(group.mask[b, g].sum())
            bounds = step_boundaries(group.texts[b][g], length)
            n = len(bounds) - 1
            R = [token_rewards[b, g, bounds[k]:bounds[k + 1]].sum().item() for k in range(n)]  # per step
            by_hand = [sum(0.9 ** (k - j) * R[k] for k in range(j, n)) for j in range(n)]  # gamma per step, lambda 1
            assert rl_mask[b, g].sum().item() == n
            torch.testing.assert_close(rl_returns[b, g, :n].double(), torch.tensor(by_hand, dtype=torch.float64),
                                       rtol=1e-5, atol=1e-6)
    discounts = 0.9 ** torch.arange(40.0)  # the outcome 0 or 1, discounted once per step to go
    assert all(v == 0 or (discounts - v).abs().min() < 1e-6 for v in returns[mask].tolist())
    assert returns[mask].max() > 0  # some completion was right, so the check above saw a discounted 1


def test_critic_states_is_validated():
    with pytest.raises(ValueError, match="critic_states must be one of"):
        LabPPOConfig(critic_states="positions")
