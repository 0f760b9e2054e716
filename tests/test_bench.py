"""The bench: the FLOP count against hand and torch counts, the step phases, the table, the accuracy-vs-time figure.

No test asserts a timing; the end-to-end run of ``bench --quick`` is in test_cli.py.
"""

import copy
import json
from dataclasses import asdict

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from minigrpo.config import ModelConfig
from minigrpo.grpo import sample_group, step1_sampling
from minigrpo.lab import loop
from minigrpo.lab.bench import format_table
from minigrpo.lab.bench.flops import (
    attention_forward_flops,
    blocks_flops,
    dense_forward_flops,
    head_flops,
    path,
    sampling_flops,
    scoring_flops,
    training_flops,
)
from minigrpo.lab.bench.phases import PHASES, PhaseTimer, step_phases
from minigrpo.lab.bench.training import KINDS
from minigrpo.lab.config import QUICK, BenchConfig, LabGRPOConfig
from minigrpo.lab.runs import read_metrics
from minigrpo.lab.scale import fast as fast_path
from minigrpo.lab.viz.plots import accuracy_vs_seconds, plot_accuracy_vs_time
from minigrpo.model import GPT
from minigrpo.task import Problem

TINY = ModelConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=4)


def test_training_flops_equal_a_hand_count():
    # d = 4, V = 20, one layer, 2 sequences of 3 positions; 2 FLOPs per multiply-add.
    per_position = (2 * 4 * 12  # qkv: 4 -> 12
                    + 2 * 4 * 4  # output projection: 4 -> 4
                    + 2 * 4 * 16 + 2 * 16 * 4  # MLP: 4 -> 16 -> 4
                    + 2 * 4 * 20)  # head: 4 -> 20
    assert per_position == 544
    per_head = 2 * (3 * 3 * 2) + 2 * (3 * 3 * 2)  # Q K^T [3, 2] x [2, 3], then [3, 3] x V [3, 2]
    forward = 2 * 3 * per_position + 2 * 2 * per_head  # 2 sequences x 3 positions, 2 sequences x 2 heads
    assert dense_forward_flops(TINY, 2, 3) + attention_forward_flops(TINY, 2, 3) == forward == 3552
    assert training_flops(TINY, 2, 3) == 3 * forward


def test_blocks_and_head_of_a_whole_sequence_are_the_same_hand_count():
    assert blocks_flops(TINY, 2, 3, 3) + head_flops(TINY, 2 * 3) == 3552
    # one new position of 2 rows against 5 keys: 24 d^2 per position, 4 d per key, one head read-out each
    assert blocks_flops(TINY, 2, 1, 5) + head_flops(TINY, 2) == 2 * (24 * 16 + 4 * 5 * 4) + 2 * (2 * 4 * 20)


def counted_flops(counter) -> int:
    """Every multiply the counter saw: the weights' (mm, addmm) and the attention's (bmm)."""
    return sum(n for op, n in counter.get_flop_counts()["Global"].items()
               if str(op) in ("aten.mm", "aten.addmm", "aten.bmm"))


@pytest.mark.parametrize("fast", [False, True])
def test_each_phases_flop_count_equals_torch_flop_counter(fast):
    """The counts of flops.py, from the group's shapes and mask, against torch counting the passes as they run."""
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=2, n_head=2, n_embd=8, block_size=32))
    problems = [Problem(operands=(1, 2), operators=("+",)), Problem(operands=(7, 3, 5), operators=("-", "+"))]
    assert path(fast) is (fast_path if fast else step1_sampling)
    with FlopCounterMode(display=False) as counter:
        group = path(fast).sample_group(model, problems, 3, 8, 1.0, torch.Generator().manual_seed(1))
    assert group.mask.sum(-1).min() < group.mask.sum(-1).max()  # rows finished at different steps
    assert counted_flops(counter) == sampling_flops(model.cfg, group, fast)
    with FlopCounterMode(display=False) as counter:
        with torch.no_grad():
            path(fast).group_logprobs(model, group)
    assert counted_flops(counter) == scoring_flops(model.cfg, group, fast)
    with FlopCounterMode(display=False) as counter:
        path(fast).group_logprobs(model, group).sum().backward()
    assert counted_flops(counter) == 3 * scoring_flops(model.cfg, group, fast)


def test_scoring_with_a_bucket_per_length_counts_each_row_at_its_own_length():
    """The least work of a scoring pass, row by row: the prompt once per group, then each completion's own positions."""
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=2, n_head=2, n_embd=8, block_size=32))
    problems = [Problem(operands=(1, 2), operators=("+",)), Problem(operands=(7, 3, 5), operators=("-", "+"))]
    group = sample_group(model, problems, 4, 10, 1.0, torch.Generator().manual_seed(3))
    B, G, T = group.completions.shape
    P = group.prompt.shape[-1]
    lengths = group.mask.flatten(0, 1).sum(-1).tolist()  # sampled rows: True up to <eos>, then False
    assert len(set(lengths)) > 2
    by_row = blocks_flops(model.cfg, B, P, P) + sum(
        blocks_flops(model.cfg, 1, n - 1, P + n - 1) + head_flops(model.cfg, n) for n in lengths)
    assert scoring_flops(model.cfg, group, True, most=B * G) == by_row
    padded = blocks_flops(model.cfg, B, P, P) + blocks_flops(model.cfg, B * G, T - 1, P + T - 1) + head_flops(
        model.cfg, B * G * T)
    assert by_row <= scoring_flops(model.cfg, group, True, most=2) <= scoring_flops(model.cfg, group, True, most=1)
    assert scoring_flops(model.cfg, group, True, most=1) == padded


def test_dense_flops_are_six_times_matmul_parameters_times_positions():
    model = GPT(ModelConfig())
    matmul_params = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    assert 3 * dense_forward_flops(model.cfg, 5, 7) == 6 * matmul_params * 5 * 7


def test_dense_flops_equal_torch_flop_counter_on_a_forward_and_backward():
    torch.manual_seed(0)
    model = GPT(TINY)
    tokens = torch.randint(0, 19, (2, 3))
    with FlopCounterMode(display=False) as counter:
        model(tokens, torch.ones_like(tokens, dtype=torch.bool)).sum().backward()
    counts = counter.get_flop_counts()["Global"]
    # the counter sees the weight multiplies (mm, addmm); on the CPU it leaves the attention kernel out
    counted = sum(n for op, n in counts.items() if str(op) in ("aten.mm", "aten.addmm"))
    assert counted == 3 * dense_forward_flops(TINY, 2, 3)


def fake_step(wall, **phases):
    return {"wall_s": wall, **dict(zip(PHASES, (phases.get(k, 0.0) for k in PHASES)))}


def test_step_phases_are_medians_with_the_rest_as_other():
    steps = [fake_step(1.0, sample_s=0.5, score_s=0.1, ref_s=0.1, fwd_bwd_s=0.2, opt_s=0.05),
             fake_step(2.0, sample_s=1.4, score_s=0.1, ref_s=0.1, fwd_bwd_s=0.3, opt_s=0.05),
             fake_step(1.2, sample_s=0.6, score_s=0.2, ref_s=0.1, fwd_bwd_s=0.2, opt_s=0.05)]
    phases = step_phases(steps)
    assert phases["parts"]["sample_s"]["s"] == pytest.approx(0.6)
    assert phases["parts"]["fwd_bwd_s"]["s"] == pytest.approx(0.2)
    assert phases["parts"]["other_s"]["s"] == pytest.approx(0.05)  # median of 0.05, 0.05, 0.05
    assert phases["step_s"] == pytest.approx(0.6 + 0.1 + 0.1 + 0.2 + 0.05 + 0.05)
    assert sum(p["percent"] for p in phases["parts"].values()) == pytest.approx(100)
    assert phases["parts"]["sample_s"]["percent"] == pytest.approx(100 * 0.6 / 1.1)


def test_step_phases_are_none_without_the_trainers_timings():
    assert step_phases([{"wall_s": 1.0}, {"wall_s": 1.1}]) is None
    assert step_phases([]) is None


@pytest.mark.parametrize("fast", [False, True])
def test_phase_timer_splits_each_step_of_the_labs_loop_from_outside(easy_warm_start, fast):
    """The bench times the loop the command line trains with (lab/loop.py), on either path."""
    model, train = easy_warm_start
    records = []
    cfg = LabGRPOConfig(steps=3, prompts_per_step=4, group_size=4, max_new_tokens=10, num_inner_steps=2,
                        eval_every=1000, fast=fast)
    originals = [step1_sampling.sample_group, step1_sampling.group_logprobs, fast_path.sample_group,
                 fast_path.group_logprobs, loop.clip_grad_norm_]
    timer = PhaseTimer(torch.device("cpu"), log=records.append)
    with timer.patched():
        loop.train(copy.deepcopy(model), cfg, train, train[:2], log=timer.log, progress=False)
    assert [set(PHASES) <= set(r) for r in records] == [False, True, True, True]  # step 0 is the evaluation
    for record in records[1:]:
        phases = [record[k] for k in PHASES]
        assert all(p > 0 for p in phases) and sum(phases) <= record["wall_s"]
    # afterwards the wrappers are gone, and timing changed nothing the run computes
    assert originals == [step1_sampling.sample_group, step1_sampling.group_logprobs, fast_path.sample_group,
                         fast_path.group_logprobs, loop.clip_grad_norm_]
    plain = []
    loop.train(copy.deepcopy(model), cfg, train, train[:2], log=plain.append, progress=False)
    untimed = lambda rs: [{k: v for k, v in r.items() if not k.endswith("_s")} for r in rs]  # noqa: E731
    assert not any(k in plain[1] for k in PHASES) and untimed(plain) == untimed(records)


def test_the_bench_compares_grpo_first_with_ppo_vineppo_and_fast():
    assert KINDS == ("grpo", "ppo", "vineppo", "grpo_fast")  # GRPO first: the others are ratios to it


def fake_summary(phases, fast_phases=None):
    return {
        "machine": {"cpu": "Test CPU", "cpu_count": 2, "torch_threads": 2, "gpu": None, "torch": "2.13.0",
                    "load_average_1min": [0.5, 2.1]},
        "settings": {**asdict(QUICK), "timing_repeats": 3, "prompts_per_step": 32, "group_size": 8},
        "generation": [{"prompts": 32, "group_size": G, "completions": 32 * G, "max_new_tokens": 32,
                        "cached_tokens": 6000 * G // 8, "cached_tokens_per_s": 12000.0,
                        "uncached_tokens_per_s": 1000.0, "speedup": 12.0} for G in (8, 16)],
        "grpo_step_phases": phases,
        "grpo_fast_step_phases": fast_phases,
        "grpo_vs_ppo": {
            "grpo": {"step_s": 0.6, "peak_rss_mib": 400.0, "rss_growth_mib": 100.0, "parameters_held": 1000},
            "ppo": {"step_s": 1.2, "peak_rss_mib": 500.0, "rss_growth_mib": 180.0, "parameters_held": 1500},
            "vineppo": {"step_s": 2.4, "peak_rss_mib": 440.0, "rss_growth_mib": 120.0, "parameters_held": 1000},
            "ppo_over_grpo": {"step_s": 2.0, "peak_rss_mib": 1.25, "rss_growth_mib": 1.8, "parameters_held": 1.5},
            "vineppo_over_grpo": {"step_s": 4.0, "peak_rss_mib": 1.1, "rss_growth_mib": 1.2, "parameters_held": 1.0},
            "grpo_fast": {"step_s": 0.45, "peak_rss_mib": 390.0, "rss_growth_mib": 90.0, "parameters_held": 1000},
            "grpo_fast_over_grpo": {"step_s": 0.75, "peak_rss_mib": 0.975, "rss_growth_mib": 0.9,
                                    "parameters_held": 1.0},
            "batch": {"prompts_per_step": 32, "group_size": 8, "steps": 6, "repeats": 3, "device": "cpu"},
        },
        "flops": {"sequences": 256, "positions": 40, "matmul_flop_per_s": 4e11, "matmul_size": 1024,
                  "least_step_flops": 6e10,
                  "phases": {name: {"today": {"flops": 3e10, "s": 0.3, "fraction_of_matmul": 0.25},
                                    "fast": {"flops": 2.4e10, "s": 0.2, "fraction_of_matmul": 0.3}}
                             for name in ("sampling", "reference", "training")}},
    }


def table_rows(text):
    """{first cell: the other cells} for every markdown table row of the text."""
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("|")]
    return {row[0]: row[1:] for row in rows}


def test_table_has_one_section_per_part_with_the_ratios():
    phases = step_phases([fake_step(1.0, sample_s=0.5, score_s=0.1, ref_s=0.1, fwd_bwd_s=0.2, opt_s=0.05)])
    fast = step_phases([fake_step(0.8, sample_s=0.4, score_s=0.1, ref_s=0.05, fwd_bwd_s=0.2, opt_s=0.05)])
    text = format_table(fake_summary(phases, fast))
    for heading in ("(a) generation", "(b) one GRPO step", "(c) GRPO vs PPO", "(d) each phase"):
        assert heading in text
    assert "Test CPU (2 CPU cores" in text and "load average 0.50 at the start, 2.10 at the end" in text
    rows = table_rows(text)
    assert rows["32 prompts x G = 16"] == ["12,000", "12,000", "1,000", "12.0x"]
    assert rows["sampling B x G completions (step 1)"] == ["500", "50%", "400", "0.80"]
    assert rows["reference log-probs (for step 5)"] == ["100", "10%", "50", "0.50"]
    assert rows["other (metrics, the loop itself)"] == ["50", "5%", "0.00", "0.00"]
    assert rows["total"] == ["1,000", "100%", "800", "0.80"]
    assert "today 0.600 s, --fast 0.450 s per step: --fast takes 0.75 of today's time" in text
    assert rows["seconds per step"] == ["0.600", "1.200", "2.400", "2.00", "4.00"]
    assert rows["parameters held (policy + reference + critic)"] == ["1,000", "1,500", "1,000", "1.50", "1.00"]
    assert rows["policy forward and backward"] == ["3e+10", "2.4e+10", "300", "200", "0.67", "25.0%", "30.0%"]
    assert rows["float32 torch.mm, 1024 x 1024"] == ["2.15e+09", "", "5.37", "", "", "400 GFLOP/s", ""]
    assert all(line.endswith("|") for line in text.splitlines() if line.startswith("|"))
    assert "warning" not in text  # load 0.5 on 2 cores at the start
    # 6e10 FLOPs at 4e11 FLOP/s: 150 ms, against half of (c)'s 0.6 s step
    assert ("6e+10 FLOPs, 150 ms at the matmul rate; half of today's step (c) is 300 ms, so twice as fast needs "
            "the whole step at 50% of the matmul rate or more") in text


def test_table_without_a_fast_run_shows_todays_phases_only():
    phases = step_phases([fake_step(1.0, sample_s=0.5, score_s=0.1, ref_s=0.1, fwd_bwd_s=0.2, opt_s=0.05)])
    rows = table_rows(format_table(fake_summary(phases)))
    assert rows["sampling B x G completions (step 1)"] == ["500", "50%"]


def test_table_warns_when_the_machine_was_busy():
    summary = fake_summary(None)
    summary["machine"]["load_average_1min"] = [6.2, 5.7]
    assert "warning: the machine was busy" in format_table(summary)


def test_table_says_so_when_the_trainer_logs_no_phases():
    assert "carry no phase timings" in format_table(fake_summary(None))


def test_bench_config_rejects_bad_values_by_name():
    with pytest.raises(ValueError, match="timing_repeats"):
        BenchConfig(timing_repeats=0)
    with pytest.raises(ValueError, match="device"):
        BenchConfig(device="tpu")


def write_metrics(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return read_metrics(path)


def test_accuracy_vs_seconds_is_the_cumulative_step_time_at_each_evaluation(tmp_path):
    metrics = write_metrics(tmp_path / "metrics.jsonl", [
        {"step": 0, "test_accuracy": 0.4},
        {"step": 1, "wall_s": 1.5},
        {"step": 2, "wall_s": 0.5, "test_accuracy": 0.5},
        {"step": 3, "wall_s": 2.0},
        {"step": 4, "wall_s": 1.0, "test_accuracy": 0.6},
    ])
    seconds, accuracy = accuracy_vs_seconds(metrics)
    assert seconds == [0.0, 1.5 + 0.5, 1.5 + 0.5 + 2.0 + 1.0]
    assert accuracy == [0.4, 0.5, 0.6]
    path = plot_accuracy_vs_time({"GRPO": metrics, "PPO": metrics}, tmp_path / "accuracy_vs_time.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_accuracy_vs_seconds_refuses_out_of_order_steps():
    with pytest.raises(ValueError, match="increasing"):
        accuracy_vs_seconds([{"step": 2, "wall_s": 1.0}, {"step": 1, "wall_s": 1.0}])
