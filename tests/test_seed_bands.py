"""Learning curves over seeds: the band is the t-interval of the seeds' accuracies at each shared evaluation."""

import pytest

from minigrpo.lab.viz.seeds import band, plot_seed_bands, series_band


def record(accuracies, step_s):
    return {"median_step_s": step_s, "accuracy": [{"step": 50 * i, "accuracy": a} for i, a in enumerate(accuracies)]}


def test_band_by_hand():
    runs = [record([0.4, 0.5, 0.7], 1.2), record([0.4, 0.7, 0.6], 2.4),
            record([0.4, 0.6], 1.8)]  # a shorter run: only the steps all three reached count
    steps, means, halves = band(runs, "step")
    assert steps == [0, 50]
    assert means == pytest.approx([0.4, 0.6]) and halves == pytest.approx([0.0, 4.303 * 0.1 / 3 ** 0.5])
    minutes, _, _ = band(runs, "minutes")
    assert minutes == pytest.approx([0.0, 50 * (1.2 + 2.4 + 1.8) / 3 / 60])  # 50 steps at the mean median step
    _, _, one = band(runs[:1], "step")
    assert one == [0.0, 0.0, 0.0]  # one seed has no interval: drawn without a band


def test_plot_writes_the_figure(tmp_path):
    run = {**record([0.4, 0.5], 1.0), "series": {"step": [10], "entropy": [0.5]}}
    path = plot_seed_bands({"a": [run]}, tmp_path / "f" / "bands.png", "t")
    assert path.exists() and path.stat().st_size > 0


def test_series_band_by_hand():
    runs = [{"series": {"step": [10, 20, 30], "entropy": [0.9, 0.8, 0.7]}},
            {"series": {"step": [10, 20], "entropy": [0.7, 0.6]}}]  # windows both logged: the first two
    steps, means, halves = series_band(runs, "entropy")
    assert steps == [10, 20] and means == pytest.approx([0.8, 0.7])
    assert halves == pytest.approx([12.706 * 0.1, 12.706 * 0.1])  # sd 0.1 sqrt(2) over sqrt(2), t(1) = 12.706
    assert series_band(runs, "explained_variance") == ([], [], [])  # not logged: no curve


def test_the_difficulty_figure_plots_the_declared_tests_differences(tmp_path):
    import json

    from minigrpo.lab.experiments import tables
    from minigrpo.lab.viz.seeds import plot_difficulty

    def run(plan, method, seed, accuracies):
        return {"plan": plan, "method": method, "seed": seed, "median_step_s": 0.5, "wall_s": 60.0,
                "config": {"grpo": {"prompts_per_step": 2, "group_size": 4}},
                "accuracy": [{"step": 50 * i, "accuracy": a, "wall_s": 10.0 * i} for i, a in enumerate(accuracies)],
                "mean": {"zero_spread_frac": 0.5, "adv_nonzero_frac": 0.5, "adv_abs_mean": 0.4},
                "series": {"step": [50, 100], "completion_len": [10.0, 10.0]}}

    records = [run("warm_start", "warmup", 0, [0.4]), run("warm_start", "warmup_steps5", 0, [0.1])]
    for plan, base in (("credit", 0.5), ("credit_steps5", 0.2)):
        for seed in range(3):
            records += [run(plan, "grpo_outcome", seed, [base - 0.1, base, base + 0.01 * seed]),
                        run(plan, "grpo_process", seed, [base - 0.1, base + 0.05, base + 0.1 + 0.02 * seed])]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(records))
    drawn = plot_difficulty(path, tmp_path / "difficulty.png")
    assert (tmp_path / "difficulty.png").stat().st_size > 0
    expected = {(t["plan"], t["metric"]): (t["difference"], t["half"]) for t in tables.credit_tests(path)
                if "difference" in t}
    finals = drawn["final accuracy / grpo_process"]
    assert [steps for steps, _, _ in finals] == [3, 5]
    assert finals[1][1:] == pytest.approx(expected[("credit_steps5", "final accuracy")])
    assert finals[0][1] == pytest.approx(0.1 + 0.01)  # (0.6 + 0.02 s) - (0.5 + 0.01 s) averaged over seeds 0-2
