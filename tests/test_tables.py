"""The README's tables, computed from a small results file whose numbers are known by hand."""

import json

import pytest

from minigrpo.lab.experiments import readme, results, tables


def run(plan, method, seed, accuracies, wall_s=120.0, **extra):
    """A record with evaluations at steps 0, 50, 100, ... of the given accuracies."""
    return {"plan": plan, "method": method, "seed": seed, "wall_s": wall_s, "median_step_s": 0.5, "cpu": "A CPU",
            "config": {"grpo": {"prompts_per_step": 2, "group_size": 4}},
            "accuracy": [{"step": 50 * i, "accuracy": a, "wall_s": 10.0 * i} for i, a in enumerate(accuracies)],
            "mean": {"kl": 0.05, "zero_spread_frac": 0.5, "adv_nonzero_frac": 0.5, "adv_abs_mean": 0.4},
            "series": {"step": [10, 20, 30], "reward_mean": [0.1, 0.2, 0.4], "kl": [0.01, 0.02, 0.06],
                       "completion_len": [10.0, 10.0, 10.0]},
            "final_eval": {"process_verified_accuracy": 0.5, "pass@1": 0.4, "pass@4": 0.6, "pass@8": 0.7}, **extra}


@pytest.fixture
def results_file(tmp_path):
    path = tmp_path / "results.json"
    records = [run("warm_start", "warmup", 0, [0.48], wall_s=30.0),
               run("credit", "grpo_outcome", 0, [0.48, 0.60, 0.60]),
               run("credit", "grpo_outcome", 1, [0.48, 0.62, 0.64]),
               run("credit", "grpo_outcome", 2, [0.48, 0.66, 0.62]),
               run("credit", "ppo", 0, [0.48, 0.70, 0.72], wall_s=240.0), run("credit", "ppo", 1, [0.48, 0.70, 0.74]),
               run("credit", "ppo", 2, [0.48, 0.66, 0.76]),
               run("reward_models", "grpo_orm", 0, [0.48, 0.05, 0.05])]
    path.write_text(json.dumps(records))
    return path


def row(table: str, label: str) -> list[str]:
    (line,) = [line for line in table.splitlines() if line.startswith(f"| {label} |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_results_table_gives_mean_and_t_interval_over_seeds(results_file):
    table = tables.results_table(results_file)
    # finals 0.60, 0.64, 0.62: mean 0.62, sd 0.02, half-width 4.303 * 0.02 / sqrt(3) = 0.0497
    grpo = row(table, "GRPO, outcome reward (the paper's)")
    # mean accuracy after step 0: (0.60 + 0.60) / 2, (0.62 + 0.64) / 2, (0.66 + 0.62) / 2 = 0.60, 0.63, 0.64: mean
    # 0.6233, sd 0.0208, half-width 4.303 * 0.0208 / sqrt(3) = 0.052
    assert grpo[1:3] == ["3", "0.623 ± 0.052"]
    assert grpo[3] == "0.620 ± 0.050"  # finals 0.60, 0.64, 0.62: mean 0.62, sd 0.02, half-width 4.303 * 0.02 / sqrt(3)
    assert grpo[4] == "0.633 ± 0.076"  # bests 0.60, 0.64, 0.66: sd 0.0306, half-width 4.303 * 0.0306 / sqrt(3)
    assert grpo[5:9] == ["0.500 ± 0.000", "0.400 ± 0.000", "0.600 ± 0.000", "0.700 ± 0.000"]  # the same each seed
    assert grpo[9] == "0.50"  # the median step's seconds
    assert row(table, "warm start (`data/warmstart.pt`)")[3] == "0.480"
    assert row(table, "GRPO on the learned ORM")[1:4] == ["1", "0.050", "0.050"]  # one seed: no interval
    assert "not run yet" in row(table, "control: random reward, p = 0.5")[2]
    assert grpo[10] == "A CPU"  # one kind of CPU: its name alone


def test_the_cpu_column_counts_the_runs_of_each_kind_when_they_differ(results_file):
    records = json.loads(results_file.read_text())
    records[1]["cpu"] = "Intel(R) Xeon(R) Processor"  # grpo_outcome seed 0 on another machine
    results_file.write_text(json.dumps(records))
    grpo = row(tables.results_table(results_file), "GRPO, outcome reward (the paper's)")
    assert grpo[10] == "A CPU (2); Intel Xeon (1)"


def test_significance_gives_welchs_interval_and_the_holm_corrected_p(results_file):
    table = tables.significance_table(results_file)
    # PPO finals 0.72, 0.74, 0.76 against 0.60, 0.64, 0.62: +0.12, both sd 0.02, so se = 0.02 * sqrt(2/3) and
    # df = 4: half-width 2.776 * 0.01633 = 0.0453; t = 0.12 / 0.01633 = 7.35
    final_p = 2 * results.t_tail(0.12 / (0.02 * (2 / 3) ** 0.5), 4)
    # mean over training: PPO (0.71, 0.72, 0.71) against (0.60, 0.63, 0.64); the ORM has one seed: outside the family
    xs, ys = [0.71, 0.72, 0.71], [0.60, 0.63, 0.64]
    auc_p = results.welch_p(xs, ys)
    smaller, larger = sorted([final_p, auc_p])  # a family of two: the smaller p times 2, the larger times 1
    holm = {smaller: 2 * smaller, larger: max(2 * smaller, larger)}
    cells = row(table, "PPO, learned critic + GAE")
    assert cells[1] == "3 vs 3"
    assert cells[3] == f"**+0.120 ± 0.045; p = {holm[final_p]:.2g}**"
    difference, half = results.difference_interval(xs, ys)
    assert cells[2].startswith(f"**{difference:+.3f} ± {half:.3f}; p = {holm[auc_p]:.2g}")
    assert row(table, "GRPO on the learned ORM")[3] == "-0.570; one seed on a side"


def test_credit_table_gives_the_primary_metric_and_the_steps_to_each_target(results_file):
    cells = row(tables.credit_table(results_file), "`ppo`")
    # warm start 0.48: +10 points is 0.58 (every seed reaches it at step 50), +20 points is 0.68 (seed 0 at 50, seed 1
    # at 50, seed 2 at 100): medians 50 and 50
    assert cells[2].startswith("0.713 ± ")  # (0.71 + 0.72 + 0.71) / 3
    assert cells[5:7] == ["50 (3/3)", "50 (3/3)"]
    grpo = row(tables.credit_table(results_file), "`grpo_outcome`")
    assert grpo[6] == "never (0/3)"  # 0.68 is never reached: no number, a count
    assert "not run yet" in tables.credit_table(results_file, "credit_steps5")


def test_the_credit_family_is_holm_corrected_and_skips_what_was_never_reached(results_file):
    tests = tables.credit_tests(results_file)
    ppo = {t["metric"]: t for t in tests if t["method"] == "ppo"}
    assert set(ppo) == {name for name, _ in tables.METRICS}
    assert "never" in ppo["steps to +20 points"]  # GRPO outcome never got there: not a number, not tested
    assert ppo["steps to +10 points"]["p"] == 1.0  # 50 steps every seed on both sides: no difference, no spread
    tested = [t for t in tests if "p" in t]
    assert [t["holm"] for t in tested] == pytest.approx(results.holm([t["p"] for t in tested]))
    assert "not tested: 3 runs never got there" in tables.credit_tests_table(results_file)


def test_variants_table_means_each_evaluation_over_seeds(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps([run("variants", "dapo", 0, [0.48, 0.50, 0.60, 0.70]),
                                run("variants", "dapo", 1, [0.48, 0.54, 0.60, 0.74])]))
    cells = row(tables.variants_table(path), "`dapo`")
    assert cells[1:4] == ["2", "0.520 / 0.600 / 0.720", "0.720 ± 0.254"]  # 12.706 * 0.02 = 0.254
    # last third of 150 steps: the series' windows after step 100 hold none here, so the metrics show "-"
    assert cells[4:] == ["-", "-", "-", "-"]
    assert "not run yet" in tables.variants_table(tmp_path / "none.json")


def test_compute_sums_hours_per_plan(results_file):
    table = tables.compute_table(results_file)
    assert row(table, "`credit`")[1:] == ["6", f"{(5 * 120 + 240) / 3600:.2f}"]
    assert row(table, "all")[2] == f"{(30 + 5 * 120 + 240 + 120) / 3600:.2f}"


def test_compute_block_reports_the_last_reproduction_when_it_has_one(results_file, tmp_path):
    assert "Measured" not in tables.compute_table(results_file, tmp_path)
    log = {"seconds": {"splits": 36.0, "warm_start": 1800.0, "runs": 18000.0, "notebooks": 360.0},
           "total": 20196.0, "cpu": "AMD EPYC Processor", "runs": 84, "not_timed": 0}
    (tmp_path / "reproduce.json").write_text(json.dumps(log))
    assert tables.compute_table(results_file, tmp_path).endswith(
        "Measured: the last `python -m minigrpo reproduce` took 5.6 hours on AMD EPYC with 84 runs (hours per "
        "stage: splits 0.01, warm start 0.50, runs 5.00, notebooks 0.10).")
    log["not_timed"] = 2
    (tmp_path / "reproduce.json").write_text(json.dumps(log))
    assert tables.compute_table(results_file, tmp_path).endswith(
        "notebooks 0.10; 2 pieces made before their time was recorded are not in it).")


def test_reproduce_estimate_counts_every_run_and_the_recorded_speeds(results_file):
    from minigrpo.lab.experiments.plans import PLANS, SEEDS

    runs = sum(len(seeds) * len(PLANS[plan]) for plan, seeds in SEEDS.items())
    # 100 steps at 0.5 s for grpo_outcome and ppo (credit) and grpo_orm (reward_models); no other method has a record
    hours = (2 * len(SEEDS["credit"]) + len(SEEDS["reward_models"])) * 100 * 0.5 / 3600
    missing = sum(len(PLANS[plan]) for plan in SEEDS) - 3
    assert tables.reproduce_estimate(results_file) == (
        f"A full `python -m minigrpo reproduce` trains {runs} runs: about {hours:.1f} hours of training steps at the "
        f"speeds recorded here; {missing} methods have no record yet, so their runs are not in that sum.")


def test_results_file_blocks_render_with_no_results_at_all(tmp_path):
    for name in ("results", "significance", "credit table", "variants", "reward sources", "compute"):
        assert readme.blocks(tmp_path / "none.json")[name].startswith("|")
    assert results.load(tmp_path / "none.json") == []


def test_the_critic_table_gives_each_recipes_share_of_the_ideal_drop(tmp_path):
    def localized(seed, shares):
        at = {str(j): {"pairs": 4, "mc": -0.8, "critic": -0.8 * f, "fraction": f} for j, f in enumerate(shares, 1)}
        return run("critic", "ppo_mc_targets", seed, [0.48, 0.60, 0.70],
                   final_eval={"localization": at, "pass@1": 0.4})

    path = tmp_path / "results.json"
    path.write_text(json.dumps([run("warm_start", "warmup", 0, [0.48]), localized(0, [0.1, 0.5, 0.9]),
                                localized(1, [0.3, 0.7, float("nan")])]))
    cells = row(tables.critic_table(path), "`ppo_mc_targets`")
    # step 1: (0.1 + 0.3) / 2; step 2: (0.5 + 0.7) / 2; step 3: seed 1 has no drop to share (nan), seed 0's alone
    assert cells[2] == "20% (8 slips) / 60% (8 slips) / 90% (8 slips)"
    assert cells[3].startswith("0.650") and cells[4].startswith("0.700")
    assert "not run yet" in tables.critic_table(tmp_path / "none.json")
