"""The results file and the statistics over seeds, against independent computations."""

import json
import math

import numpy as np
import pytest

from minigrpo.lab.experiments import results


def record(plan, method, seed, finals=(0.4, 0.6), **extra):
    return {"plan": plan, "method": method, "seed": seed, "median_step_s": 1.0,
            "accuracy": [{"step": 0, "accuracy": finals[0]}, {"step": 10, "accuracy": finals[1]}],
            "mean": {"zero_spread_frac": 0.5, "adv_nonzero_frac": 0.25, "adv_abs_mean": 0.4}, **extra}


def t_cdf(x: float, df: int) -> float:
    """P(T <= x) for Student's t, by integrating its density on a fine grid (trapezoid rule, float64)."""
    grid = np.linspace(0.0, x, 200_001)
    density = (math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
               * (1 + grid ** 2 / df) ** (-(df + 1) / 2))
    return 0.5 + float(np.sum((density[1:] + density[:-1]) / 2 * np.diff(grid)))


@pytest.mark.parametrize("df", [1, 2, 4, 9, 30])
def test_the_t_table_is_the_0975_quantile(df):
    assert t_cdf(results.T975[df], df) == pytest.approx(0.975, abs=2e-5)


def test_t975_rounds_degrees_of_freedom_down_and_refuses_none():
    assert results.t975(4.9) == results.T975[4] and results.t975(200) == 1.960
    with pytest.raises(ValueError, match="at least 1 degree of freedom"):
        results.t975(0.5)


def test_mean_interval_is_the_t_interval_by_hand():
    m, half = results.mean_interval([0.5, 0.6, 0.7])
    assert m == pytest.approx(0.6) and half == pytest.approx(4.303 * 0.1 / 3**0.5, rel=1e-4)  # sd 0.1, t(2) = 4.303
    m, half = results.mean_interval([0.4])
    assert m == 0.4 and half != half  # nan: one seed has no interval


def test_difference_interval_is_welchs_by_hand():
    xs, ys = [0.60, 0.64, 0.70, 0.66], [0.50, 0.58, 0.52]
    vx, vy = np.var(xs, ddof=1) / 4, np.var(ys, ddof=1) / 3
    df = (vx + vy) ** 2 / (vx ** 2 / 3 + vy ** 2 / 2)  # Welch-Satterthwaite
    assert 4 < df < 5  # so the table's 4 degrees of freedom apply
    difference, half = results.difference_interval(xs, ys)
    assert difference == pytest.approx(np.mean(xs) - np.mean(ys))
    assert half == pytest.approx(2.776 * math.sqrt(vx + vy))
    assert results.difference_interval([0.5], ys)[1] != results.difference_interval([0.5], ys)[1]  # nan
    assert results.difference_interval([0.5, 0.5], [0.4, 0.4]) == (pytest.approx(0.1), 0.0)


def test_method_rows_average_over_seeds():
    runs = {"a": {"0": record("p", "a", 0, (0.4, 0.6)), "1": record("p", "a", 1, (0.9, 0.8))}}
    (row,) = results.method_rows(runs)
    assert row["name"] == "a" and row["seeds"] == 2
    assert row["final"] == pytest.approx((0.7, 12.706 * 0.1))  # finals 0.6, 0.8: sd 0.1 sqrt(2), over sqrt(2)
    assert row["best"] == pytest.approx((0.75, 12.706 * 0.15))  # bests 0.6, 0.9
    assert row["step_s"] == 1.0 and row["zero_spread_frac"] == 0.5 and row["adv_abs_mean"] == pytest.approx(0.4)


def test_store_replaces_one_plan_keeps_the_others_and_orders_records(tmp_path):
    path = tmp_path / "results.json"
    results.store("a", {"m": {"0": record("a", "m", 0)}}, path)
    results.store("b", {"x": {"1": record("b", "x", 1), "0": record("b", "x", 0)}, "w": {"0": record("b", "w", 0)}},
                  path, order=["x", "w"])
    results.store("a", {"m": {"0": record("a", "m", 0, (0.4, 0.7)), "2": record("a", "m", 2)}}, path)
    keys = [(r["plan"], r["method"], r["seed"]) for r in results.load(path)]
    assert keys == [("a", "m", 0), ("a", "m", 2), ("b", "x", 0), ("b", "x", 1), ("b", "w", 0)]
    assert results.plan_runs("a", path)["m"]["0"]["accuracy"][-1]["accuracy"] == 0.7
    assert len(path.read_text().splitlines()) == 7  # '[', one line per record, ']'
    assert not list(tmp_path.glob("*.tmp"))


def test_a_file_that_is_not_a_results_file_is_refused_by_name(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="results.json: not a results file"):
        results.load(path)
    path.write_text(json.dumps({"plan": "credit", "runs": {}}))  # the old per-plan summaries
    with pytest.raises(ValueError, match="a list of records, each with a plan, a method and a seed"):
        results.load(path)
    assert results.load(tmp_path / "missing.json") == [] and results.plan_runs("a", tmp_path / "missing.json") == {}


@pytest.mark.parametrize("t, df", [(0.5, 1), (2.0, 3), (2.776, 4), (1.3, 7.5), (4.0, 12)])
def test_t_tail_is_the_upper_tail_of_students_t(t, df):
    """Against the density integrated on a fine grid in numpy (trapezoid), a computation that shares no code."""
    grid = np.linspace(0.0, t, 400_001)
    density = (math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
               * (1 + grid ** 2 / df) ** (-(df + 1) / 2))
    assert results.t_tail(t, df) == pytest.approx(0.5 - float(np.trapezoid(density, grid)), abs=1e-8)


def test_welch_p_is_the_two_sided_tail_of_welchs_t():
    xs, ys = [0.61, 0.62, 0.60, 0.64, 0.61], [0.63, 0.63, 0.65, 0.64, 0.66]
    vx, vy = np.var(xs, ddof=1) / 5, np.var(ys, ddof=1) / 5
    t = (np.mean(xs) - np.mean(ys)) / math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx ** 2 / 4 + vy ** 2 / 4)
    assert results.welch_p(xs, ys) == pytest.approx(2 * results.t_tail(abs(t), df), rel=1e-12)
    # at the edge of Welch's 95% interval the p-value is 0.05 (the interval rounds df down: slightly conservative)
    difference, half = results.difference_interval(xs, ys)
    assert (abs(difference) > half) == (results.welch_p(xs, ys) < 0.05)
    assert results.welch_p([0.5, 0.5], [0.5, 0.5]) == 1.0 and results.welch_p([0.5, 0.5], [0.6, 0.6]) == 0.0
    assert math.isnan(results.welch_p([0.5], [0.5, 0.6]))


def test_holm_by_hand():
    # sorted: 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> raised to 0.06 (monotone)
    adjusted = results.holm([0.01, 0.04, 0.03, float("nan"), 0.005])
    assert adjusted[:3] + adjusted[4:] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(adjusted[3])
    assert results.holm([0.9, 0.8]) == [1.0, 1.0]  # capped at 1


def speed_record(accuracies, lengths=(20.0, 30.0, 30.0, 40.0), window=50, wall_per_eval=10.0):
    """A record with evaluations every 50 steps and its series in windows of 50 steps, B = 2 prompts x G = 4."""
    steps = [50 * (i + 1) for i in range(len(lengths))]
    return {"config": {"grpo": {"prompts_per_step": 2, "group_size": 4}},
            "accuracy": [{"step": 0, "accuracy": 0.4, "wall_s": 0.0}] + [
                {"step": s, "accuracy": a, "wall_s": wall_per_eval * (i + 1)}
                for i, (s, a) in enumerate(zip(steps, accuracies))],
            "series": {"step": steps, "completion_len": list(lengths)}}


def test_learning_speed_by_hand():
    speed = results.learning_speed(speed_record([0.45, 0.52, 0.61, 0.58]), start=0.40)
    assert speed["auc"] == pytest.approx((0.45 + 0.52 + 0.61 + 0.58) / 4)  # step 0 is not counted
    # +10 points: 0.50, first reached at step 100; tokens 20 x 50 x 8 + 30 x 50 x 8; 20 seconds of training
    assert speed["+10"] == {"steps": 100, "tokens": 20 * 50 * 8 + 30 * 50 * 8, "seconds": 20.0}
    # +20 points: 0.60, at step 150 (the later dip does not matter: the first time counts)
    assert speed["+20"] == {"steps": 150, "tokens": (20 + 30 + 30) * 50 * 8, "seconds": 30.0}


def test_a_run_that_never_reaches_a_target_gets_no_number():
    speed = results.learning_speed(speed_record([0.45, 0.46, 0.47, 0.48]), start=0.40)
    assert speed["+10"] == {"steps": None, "tokens": None, "seconds": None}
    assert speed["+20"] == {"steps": None, "tokens": None, "seconds": None}
