"""A run stopped and resumed ends where a run that never stopped ends, bit for bit; a non-finite number stops it."""

import copy
import math

import pytest
import torch

from minigrpo.checkpoint import atomic_load
from minigrpo.config import GRPOConfig, PPOConfig
from minigrpo.grpo.trainer import train_grpo
from minigrpo.ppo.trainer import train_ppo
from minigrpo.resume import FORMAT, Checkpoints
from minigrpo.runtime import CHECKPOINT, RunFolder

# mu = 2, so the ratio moves off 1 and AdamW's moments matter; an evaluation at every other step
SMALL = dict(steps=4, prompts_per_step=4, group_size=4, num_inner_steps=2, lr=1e-3, max_new_tokens=10, eval_every=2)
RUNS = {  # kind -> (loop, config, the step after which Ctrl-C stops it; the checkpoint is the step before)
    # pi_ref <- pi_theta before step 4, so after the checkpoint of step 4 pi_ref is not the warm start
    "grpo": (train_grpo, GRPOConfig(**{**SMALL, "steps": 6}, ref_reset_every=3), 5),
    "grpo_process": (train_grpo, GRPOConfig(**SMALL, supervision="process", step_label_noise=0.3), 3),  # label flips
    "ppo": (train_ppo, PPOConfig(**SMALL), 3),  # the critic and its optimizer
}


def train(kind, model, train_set, folder, stop_after=None, resume=False, poison_step=None):
    """Train in a run folder, saving every 2 steps; Ctrl-C (KeyboardInterrupt) after ``stop_after`` is logged."""
    fn, cfg, _ = RUNS[kind]
    run = RunFolder(folder, {"model": model.cfg, "rl": cfg}, resume=resume)

    def log(record):
        if record["step"] == poison_step:
            record["loss"] = math.nan
        run.log(record)
        if record["step"] == stop_after:
            raise KeyboardInterrupt

    with Checkpoints(run, every=2) as checkpoints:
        result = fn(model, cfg, train_set, train_set[:4], log=log, progress=False, checkpoints=checkpoints)
    run.finish()
    return run.records, result


def without_seconds(records):
    return [{k: v for k, v in r.items() if not k.endswith("_s")} for r in records]


@pytest.mark.parametrize("kind", RUNS)
def test_a_stopped_and_resumed_run_ends_bit_for_bit_where_a_straight_run_ends(easy_warm_start, tmp_path, kind):
    warm, train_set = easy_warm_start
    straight_policy = copy.deepcopy(warm)
    straight, straight_out = train(kind, straight_policy, train_set, tmp_path / "straight")

    stop_after = RUNS[kind][2]
    with pytest.raises(KeyboardInterrupt):
        train(kind, copy.deepcopy(warm), train_set, tmp_path / "resumed", stop_after=stop_after)
    assert not (tmp_path / "resumed").exists()
    assert atomic_load(tmp_path / "resumed.partial" / CHECKPOINT, FORMAT)["step"] == stop_after - 1

    resumed_policy = copy.deepcopy(warm)  # as a new process would: the warm start, then the checkpoint
    resumed, resumed_out = train(kind, resumed_policy, train_set, tmp_path / "resumed", resume=True)

    assert [r["step"] for r in resumed] == list(range(RUNS[kind][1].steps + 1))
    assert without_seconds(resumed) == without_seconds(straight)
    assert (tmp_path / "resumed" / "metrics.jsonl").read_text().count("\n") == len(straight)  # each step once
    for a, b in zip(straight_policy.state_dict().values(), resumed_policy.state_dict().values()):
        assert torch.equal(a, b)
    if kind == "ppo":  # train_ppo returns the critic
        for a, b in zip(straight_out.state_dict().values(), resumed_out.state_dict().values()):
            assert torch.equal(a, b)


def test_a_non_finite_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(easy_warm_start,
                                                                                            tmp_path):
    warm, train_set = easy_warm_start
    with pytest.raises(FloatingPointError, match="step 3: loss is nan") as err:
        train("grpo_process", copy.deepcopy(warm), train_set, tmp_path / "run", poison_step=3)
    assert not (tmp_path / "run").exists()  # never promoted
    saved = atomic_load(tmp_path / "run.partial" / CHECKPOINT, FORMAT)
    assert saved["step"] == 2 and [r["step"] for r in saved["records"]] == [0, 1, 2]
    assert "keeps the checkpoint of step 2: --resume repeats the same steps" in err.value.__notes__[0]


def test_without_a_run_folder_the_loop_still_stops_at_a_non_finite_gradient_norm(easy_warm_start):
    warm, train_set = easy_warm_start

    def log(record):
        if record["step"] == 1:
            record["grad_norm"] = math.inf

    with pytest.raises(FloatingPointError, match="step 1: grad_norm is inf"):
        train_grpo(copy.deepcopy(warm), RUNS["grpo_process"][1], train_set, train_set[:4], log=log, progress=False)


def test_weights_that_are_not_finite_are_never_saved(easy_warm_start, tmp_path):
    from minigrpo.resume import TrainingState

    policy = copy.deepcopy(warm := easy_warm_start[0])
    state = TrainingState(policy, copy.deepcopy(warm), torch.optim.AdamW(policy.parameters()),
                          torch.Generator(), __import__("random").Random(0))
    run = RunFolder(tmp_path / "run", {"rl": GRPOConfig()})
    with torch.no_grad():
        policy.ln_f.weight[0] = math.nan
    with pytest.raises(FloatingPointError, match="step 2: policy.ln_f.weight holds a nan"):
        Checkpoints(run, every=2).step_done({"step": 2, "loss": 0.0, "grad_norm": 1.0}, state)
    assert not (run.path / CHECKPOINT).exists()


def test_resume_refuses_a_checkpoint_past_the_steps_asked_for(easy_warm_start, tmp_path):
    warm, train_set = easy_warm_start
    with pytest.raises(KeyboardInterrupt):
        train("grpo_process", copy.deepcopy(warm), train_set, tmp_path / "run", stop_after=3)
    fewer = GRPOConfig(**{**SMALL, "steps": 1}, supervision="process", step_label_noise=0.3)
    run = RunFolder(tmp_path / "run", {"model": warm.cfg, "rl": fewer}, resume=True)
    with pytest.raises(ValueError, match="at step 2, past --steps 1"):
        train_grpo(copy.deepcopy(warm), fewer, train_set, train_set[:4], log=run.log, progress=False,
           checkpoints=Checkpoints(run, every=2))
