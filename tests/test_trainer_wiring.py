"""Wiring, not only equations: what each loop hands to an equation at non-default config values, recomputed by
hand (float64) from the tensors it handed over and compared with what it used.

test_trainer_switches.py checks that each number reaches its step function; here the numbers are chosen so
that no two related ones coincide (clip_eps 0.13 / clip_eps_high 0.31, temperature 0.7, gamma 0.9 / lam 0.6,
...), and each result the loop used (the advantage on every token, the surrogate, the logged loss, PPO's
GAE advantages and returns, every log-prob) is recomputed from the definitions without the package's steps.
The paper's settings run through both loops (``grpo``/``ppo``: the paper's, ``lab_grpo``/``lab_ppo``: the lab's),
the lab's switches through the lab's.
"""

import copy
import math

import pytest
import torch

import minigrpo.grpo.trainer as grpo_trainer
import minigrpo.lab.loop as lab_loop
import minigrpo.ppo.trainer as ppo_trainer
from minigrpo.config import GRPOConfig, PPOConfig
from minigrpo.grpo import step1_sampling
from minigrpo.grpo.trainer import train_grpo
from minigrpo.lab.config import LabGRPOConfig, LabPPOConfig
from minigrpo.lab.scale import fast
from minigrpo.lab.variants import variants
from minigrpo.ppo.trainer import train_ppo

SMALL = {"steps": 1, "prompts_per_step": 3, "group_size": 4, "max_new_tokens": 9, "eval_every": 1000}
KINDS = ["grpo", "ppo", "lab_grpo", "lab_ppo", "lab_grpo_fast"]


class Spy:
    """Records the arguments and results of the functions it wraps, in call order; ``on`` adds a module's."""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch
        self.calls: dict[str, list] = {}

    def on(self, module, names) -> "Spy":
        for name in names:
            self.calls[name] = []
            self.monkeypatch.setattr(module, name, self.wrap(name, getattr(module, name)))
        return self

    def wrap(self, name, fn):
        def spy(*args, **kwargs):
            result = fn(*args, **kwargs)
            self.calls[name].append((args, kwargs, result))
            return result
        return spy

    def args(self, name, i=0):
        return self.calls[name][i][0]

    def result(self, name, i=0):
        return self.calls[name][i][2]


def reward_module(kind: str):
    """Where a loop reads the verifier's ``outcome_reward``: patch it there to give every group a known spread."""
    return {"grpo": grpo_trainer, "ppo": ppo_trainer}.get(kind, lab_loop)


def run(monkeypatch, easy_warm_start, kind="grpo", train=None, **settings):
    """One tiny training run on a copy of the warm start; returns (spy, logged records, cfg)."""
    model, problems = easy_warm_start
    spy = Spy(monkeypatch)
    if kind == "grpo":
        spy.on(grpo_trainer, ["sample_group", "group_logprobs", "clipped_surrogate", "grpo_objective"])
        cfg_class, trainer = GRPOConfig, train_grpo
    elif kind == "ppo":
        spy.on(ppo_trainer, ["sample_group", "group_logprobs", "clipped_surrogate", "clipped_value_loss"])
        cfg_class, trainer = PPOConfig, train_ppo
    else:  # the lab's loop reads sampling and log-probs from the step module (or the fast path's) when it starts
        spy.on(fast if kind == "lab_grpo_fast" else step1_sampling, ["sample_group", "group_logprobs"])
        spy.on(lab_loop, ["clipped_surrogate", "grpo_objective", "clipped_value_loss"])
        spy.on(variants, ["clip_higher_surrogate"])
        cfg_class, trainer = (LabPPOConfig if kind == "lab_ppo" else LabGRPOConfig), lab_loop.train
        settings = {**settings, "fast": True} if kind == "lab_grpo_fast" else settings
    cfg, records = cfg_class(**{**SMALL, **settings}), []
    trainer(copy.deepcopy(model), cfg, train or problems, problems[:2], log=records.append, progress=False)
    return spy, records, cfg


def by_hand_logprobs(model, group, temperature: float) -> torch.Tensor:
    """log softmax(logits / temperature) of every sampled token, one unpadded row at a time, in float64: [B, G, T]."""
    model = copy.deepcopy(model).double()
    B, G, T = group.mask.shape
    out = torch.zeros(B, G, T, dtype=torch.float64)
    with torch.no_grad():
        for b in range(B):
            for g in range(G):
                prompt = group.prompt[b, g][group.prompt_valid[b, g]]
                completion = group.completions[b, g][group.mask[b, g]]
                tokens = torch.cat([prompt, completion])[None]
                logits = model(tokens, torch.ones_like(tokens, dtype=torch.bool))[0].double()
                states = logits[len(prompt) - 1: len(prompt) - 1 + len(completion)]  # sees q and o_<t
                logp = torch.log_softmax(states / temperature, dim=-1)
                out[b, g, : len(completion)] = logp.gather(-1, completion[:, None])[:, 0]
    return out


def by_hand_group_norm(rewards, eps: float) -> torch.Tensor:
    """(r_i - mean) / (sample std + eps) per group, exactly 0 in a group without spread, float64 loops: [B, G]."""
    adv = torch.zeros(rewards.shape, dtype=torch.float64)
    for b, row in enumerate(rewards.double().tolist()):
        mean = sum(row) / len(row)
        std = math.sqrt(sum((r - mean) ** 2 for r in row) / (len(row) - 1))
        if max(row) > min(row):
            adv[b] = torch.tensor([(r - mean) / (std + eps) for r in row], dtype=torch.float64)
    return adv


# --- temperature: sampling and every log-prob of the update (policy, old, ref); mu = 1's ratio is exactly 1 ---


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("temperature", [0.5, 0.7, 1.3])
def test_every_logprob_is_softmax_of_logits_over_the_temperature(monkeypatch, easy_warm_start, kind, temperature):
    spy, _, _ = run(monkeypatch, easy_warm_start, kind, temperature=temperature, num_inner_steps=1)
    group = spy.result("sample_group")
    assert spy.args("sample_group")[4] == temperature
    ref_logp, logp = spy.result("group_logprobs", 0), spy.result("group_logprobs", 1)  # pi_ref, then pi_theta
    expected = by_hand_logprobs(easy_warm_start[0], group, temperature)  # pi_theta = pi_old = pi_ref at step 1
    at_one = by_hand_logprobs(easy_warm_start[0], group, 1.0)
    assert (expected - at_one)[group.mask].abs().max() > 1e-2  # the tolerance below tells the temperatures apart
    for name, used in [("old_logp", group.old_logp), ("ref_logp", ref_logp), ("logp", logp)]:
        torch.testing.assert_close(used.double(), expected, rtol=0, atol=2e-5, msg=name)
    # mu = 1, first inner step: pi_theta is pi_old, so the ratio on every real token is 1 to float32 rounding:
    # old_logp comes from the cached generation, logp from one full forward pass, the same sums in another
    # order (a few ulps, about 1e-6, where the wrong temperature anywhere would move it by about 1e-2)
    ratio = spy.args("clipped_surrogate")[0]
    assert (ratio[group.mask] - 1).abs().max() <= 4e-6
    assert torch.equal(logp[~group.mask], group.old_logp[~group.mask])  # padding: 0 and 0, a ratio of exactly 1


# --- group_size, adv_eps: the advantage broadcast with several prompts in one batch ---


@pytest.mark.parametrize("kind", ["grpo", "lab_grpo"])
def test_each_token_carries_its_own_groups_normalized_advantage(monkeypatch, easy_warm_start, kind):
    """B = 4 prompts, G = 5: rewards of a different size in every group, one group without spread."""
    _, problems = easy_warm_start
    batch = problems[:4]  # prompts_per_step = len(train): every prompt is drawn, in some order
    offset = {p.text: 10.0 * k for k, p in enumerate(batch)}

    def reward(problem, completion):  # distinct means and spreads per prompt; problem 2 is constant
        if problem.text == batch[2].text:
            return 3.0
        return offset[problem.text] + (1 + offset[problem.text] / 10) * (sum(map(ord, completion)) % 97) / 97

    monkeypatch.setattr(reward_module(kind), "outcome_reward", reward)
    spy, _, _ = run(monkeypatch, easy_warm_start, kind, train=batch, prompts_per_step=4, group_size=5, adv_eps=0.37)
    group = spy.result("sample_group")
    rewards = torch.tensor([[reward(p, text) for text in texts] for p, texts in zip(group.problems, group.texts)])
    assert group.mask.shape[:2] == (4, 5) and len({p.text for p in group.problems}) == 4
    assert (rewards.std(1) > 0).sum() == 3  # three groups with spread, each on its own scale
    per_completion = by_hand_group_norm(rewards, 0.37)
    adv = spy.args("clipped_surrogate")[1]
    for b in range(4):
        for g in range(5):
            real = group.mask[b, g]
            assert torch.allclose(adv[b, g][real].double(), per_completion[b, g].expand(int(real.sum())),
                                  rtol=1e-6, atol=1e-6)
            assert torch.equal(adv[b, g][~real], torch.zeros(int((~real).sum())))  # padding is never trained
    constant = [b for b, p in enumerate(group.problems) if p.text == batch[2].text][0]
    assert torch.equal(adv[constant], torch.zeros_like(adv[constant]))  # no spread: exactly 0, no NaN


# --- clip_eps, clip_eps_high, kl_coef, num_inner_steps, max_new_tokens, aggregation, kl_estimator, ratio_level ---


def by_hand_objective(logp, old_logp, ref_logp, adv, mask, cfg: GRPOConfig | LabGRPOConfig) -> float:
    """J of Eq. 3 and its variants, from the definitions, in float64 (a paper config: the variants' defaults)."""
    logp, old_logp, ref_logp, adv = (x.detach().double() for x in (logp, old_logp, ref_logp, adv))
    m = mask.double()
    cfg = cfg if isinstance(cfg, LabGRPOConfig) else LabGRPOConfig(**vars(cfg))
    if cfg.ratio_level == "sequence":
        seq = ((logp - old_logp) * m).sum(-1, keepdim=True) / m.sum(-1, keepdim=True)
        ratio = torch.exp(seq).expand_as(logp)
    else:
        ratio = torch.exp(logp - old_logp)
    high = cfg.clip_eps_high or cfg.clip_eps
    surrogate = torch.minimum(ratio * adv, torch.clamp(ratio, 1 - cfg.clip_eps, 1 + high) * adv)
    k3 = torch.exp(ref_logp - logp) - (ref_logp - logp) - 1
    kl = {"k3": k3, "k2": 0.5 * (logp - ref_logp) ** 2, "k3_ratio": torch.exp(logp - old_logp) * k3}[cfg.kl_estimator]
    x = (surrogate - cfg.kl_coef * kl) * m
    if cfg.aggregation == "grpo":
        return ((x.sum(-1) / m.sum(-1)).mean()).item()
    if cfg.aggregation == "dapo":
        return (x.sum() / m.sum()).item()
    B, G, _ = mask.shape
    return (x.sum() / (B * G * cfg.max_new_tokens)).item()


def graded_reward(problem, completion) -> float:
    """A reward with spread in every group (0/1 outcomes of a weak model often have none): shorter is better."""
    return 1.0 / (1 + len(completion)) + problem.operands[0] % 3


@pytest.mark.parametrize("kind, switches", [
    ("grpo", {}),
    ("lab_grpo", {}),
    ("lab_grpo", {"clip_eps_high": 0.31}),
    ("lab_grpo", {"aggregation": "dapo", "kl_estimator": "k2"}),
    ("lab_grpo", {"aggregation": "dr_grpo", "kl_estimator": "k3_ratio", "clip_eps_high": 0.31}),
    ("lab_grpo", {"ratio_level": "sequence", "clip_eps": 0.004}),
    ("lab_grpo_fast", {"aggregation": "dapo"}),
])
def test_logged_loss_is_the_objective_recomputed_by_hand_at_the_last_inner_step(monkeypatch, easy_warm_start, kind,
                                                                                switches):
    monkeypatch.setattr(reward_module(kind), "outcome_reward", graded_reward)
    settings = {"clip_eps": 0.13, "kl_coef": 0.3, "num_inner_steps": 3, "lr": 3e-2, "max_new_tokens": 9, **switches}
    spy, records, cfg = run(monkeypatch, easy_warm_start, kind, **settings)
    group = spy.result("sample_group")
    assert spy.args("sample_group")[3] == 9 and group.mask.shape[-1] <= 9
    assert len(spy.calls["sample_group"]) == 1 and len(spy.calls["group_logprobs"]) == 1 + 3  # pi_ref, then mu = 3
    rewards = torch.tensor([[graded_reward(p, t) for t in texts] for p, texts in zip(group.problems, group.texts)])
    adv = torch.where(group.mask, by_hand_group_norm(rewards, cfg.adv_eps)[..., None], 0.0)
    ref_logp, logp = spy.result("group_logprobs", 0), spy.result("group_logprobs", 3)
    # the last inner step's ratio still divides by pi_old, the sampling log-probs, not the previous inner step's
    ratio = torch.exp(logp.detach().double() - group.old_logp.double())
    assert (ratio[group.mask] - 1).abs().max() > cfg.clip_eps  # the clip acts: its bounds matter to the loss
    expected = by_hand_objective(logp, group.old_logp, ref_logp, adv, group.mask, cfg)
    assert records[-1]["loss"] == pytest.approx(-expected, rel=1e-4, abs=1e-6)


def test_clip_higher_bounds_the_surrogate_the_objective_gets(monkeypatch, easy_warm_start):
    """clip_eps = 0.13 below and 0.31 above, per token, both bounds hit on tokens with an advantage."""
    monkeypatch.setattr(lab_loop, "outcome_reward", graded_reward)
    spy, _, _ = run(monkeypatch, easy_warm_start, "lab_grpo", clip_eps=0.13, clip_eps_high=0.31, num_inner_steps=2,
                    lr=3e-3)
    mask = spy.result("sample_group").mask
    ratio, adv = spy.args("clip_higher_surrogate", 1)[:2]  # the second inner step: pi_theta has moved
    r, a = ratio.detach().double(), adv.double()
    expected = torch.minimum(r * a, torch.clamp(r, 0.87, 1.31) * a)
    used = spy.args("grpo_objective", 1)[0]  # the surrogate that reaches step 6
    torch.testing.assert_close(used.detach().double()[mask], expected[mask], rtol=1e-6, atol=1e-7)
    # both bounds matter here: ratios below 1 - 0.13, and ratios above 1 + 0.13 with A > 0, which a symmetric
    # clip at 0.13 (or one at 0.31 on both sides) would have treated differently
    assert ((r < 0.87) & mask & (a != 0)).any() and ((r > 1.13) & mask & (a > 0)).any()


# --- PPO: kl_coef in the reward, gamma, lam, whiten_advantages, value_clip_eps ---


def by_hand_gae(rewards, values, mask, gamma: float, lam: float):
    """The backward recursion A_t = delta_t + gamma lam A_{t+1}, V after the last token 0, float64 loops."""
    B, G, T = mask.shape
    adv = torch.zeros(B, G, T, dtype=torch.float64)
    for b in range(B):
        for g in range(G):
            n, following = int(mask[b, g].sum()), 0.0
            for t in reversed(range(n)):
                next_value = values[b, g, t + 1].item() if t + 1 < n else 0.0
                delta = rewards[b, g, t].item() + gamma * next_value - values[b, g, t].item()
                following = delta + gamma * lam * following
                adv[b, g, t] = following
    return adv, torch.where(mask, adv + values.double(), 0.0)


@pytest.mark.parametrize("kind", ["ppo", "lab_ppo"])
@pytest.mark.parametrize("whiten", [False, True])
def test_ppo_advantages_are_gae_of_the_kl_penalized_reward_by_hand(monkeypatch, easy_warm_start, kind, whiten):
    monkeypatch.setattr(reward_module(kind), "outcome_reward", lambda problem, completion: 0.25 + len(completion) / 16)
    settings = {"gamma": 0.9, "lam": 0.6, "kl_coef": 0.45, "value_clip_eps": 0.02, "clip_eps": 0.13,
                "whiten_advantages": whiten, "num_inner_steps": 2, "steps": 2, "lr": 1e-2}
    spy, _, cfg = run(monkeypatch, easy_warm_start, kind, **settings)
    # step 2: pi_old has moved away from pi_ref, so the KL in the reward is not 0
    group, ref_logp = spy.result("sample_group", 1), spy.result("group_logprobs", 3)  # ref, mu = 2, then ref
    mask = group.mask
    values, old_values, returns, _, clip_eps = spy.args("clipped_value_loss", 2)  # step 2, first inner step
    assert clip_eps == 0.02 and len(spy.calls["clipped_surrogate"]) == 4
    n = mask.sum(-1)
    token_rewards = torch.zeros(mask.shape, dtype=torch.float64)
    for b, g in zip(*torch.where(n > 0)):
        text = group.texts[b][g]
        token_rewards[b, g, n[b, g] - 1] = 0.25 + len(text) / 16  # r_i on the last token (its <eos>)
    log_ratio = torch.where(mask, group.old_logp.double() - ref_logp.double(), 0.0)
    assert log_ratio.abs().max() > 1e-3
    token_rewards = torch.where(mask, token_rewards - 0.45 * log_ratio, 0.0)
    adv, expected_returns = by_hand_gae(token_rewards, old_values, mask, 0.9, 0.6)
    if whiten:
        real = adv[mask]
        adv = torch.where(mask, (adv - real.mean()) / (real.std() + 1e-8), 0.0)
    torch.testing.assert_close(spy.args("clipped_surrogate", 2)[1].double(), adv, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(returns.double(), expected_returns, rtol=1e-5, atol=1e-5)
    # the clipped value loss at value_clip_eps = 0.02, from V at the second inner step and V_old of sampling time
    values, old_values, returns = (x.detach().double() for x in spy.args("clipped_value_loss", 3)[:3])
    clipped = old_values + torch.clamp(values - old_values, -0.02, 0.02)
    per_token = 0.5 * torch.maximum((values - returns) ** 2, (clipped - returns) ** 2) * mask
    expected_loss = (per_token.sum(-1) / mask.sum(-1)).mean()
    assert ((values - old_values).abs()[mask] > 0.02).any()  # the clip acts
    assert spy.result("clipped_value_loss", 3).item() == pytest.approx(expected_loss.item(), rel=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_the_logged_entropy_is_the_sampling_policys_per_completion_then_batch_mean(monkeypatch, easy_warm_start, kind):
    spy, records, _ = run(monkeypatch, easy_warm_start, kind, temperature=0.7)
    group = spy.result("sample_group")
    per_completion = [group.entropy[b, g][group.mask[b, g]].double().mean().item()
                      for b in range(group.mask.shape[0]) for g in range(group.mask.shape[1])]
    assert records[-1]["entropy"] == pytest.approx(sum(per_completion) / len(per_completion), rel=1e-5)
