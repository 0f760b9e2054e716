"""The results file, ``data/results.json``: one record per finished run, and the statistics over seeds.

A sweep (sweep.py) writes a run's record as soon as the run finishes: its plan and method, seed, command and
flags, held-out accuracy at every evaluation with the wall-clock time it was reached at, the final policy's
greedy, process-verified and sampled pass@k accuracy, its metrics in windows of steps, and the CPU it ran on.
The generated tables and the notebooks read this file and nothing else, so every number they show can be
traced to a record, and `python -m minigrpo reproduce` rebuilds the file from scratch.

The file holds one record per line inside a JSON list, so that a diff shows which runs changed.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from pathlib import Path

from ...task import DATA_DIR

RESULTS = DATA_DIR / "results.json"

# Student's t quantile 0.975 by degrees of freedom (any table of the t distribution; tests/test_results.py
# integrates the density to check them). Beyond 30 the normal's 1.960 is within 2% of the truth.
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086,
        21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042}


def t975(df: float) -> float:
    """The 0.975 quantile of Student's t at ``df`` degrees of freedom, rounded down to a whole number of them
    (fewer degrees of freedom, a wider interval: the conservative side)."""
    whole = math.floor(df)
    if whole < 1:
        raise ValueError(f"a t interval needs at least 1 degree of freedom, got {df}")
    return T975.get(whole, 1.960)


def load(path: Path = RESULTS) -> list[dict]:
    """Every record of the file, [] if there is none yet."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        records = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not a results file ({err})") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) and {"plan", "method", "seed"} <= r.keys()
                                                for r in records):
        raise ValueError(f"{path}: a results file is a list of records, each with a plan, a method and a seed")
    return records


def plan_runs(plan: str, path: Path = RESULTS) -> dict[str, dict[str, dict]]:
    """The records of one plan as {method: {seed as a string: record}}, methods and seeds in file order."""
    runs: dict[str, dict[str, dict]] = {}
    for record in load(path):
        if record["plan"] == plan:
            runs.setdefault(record["method"], {})[str(record["seed"])] = record
    return runs


def store(plan: str, runs: dict[str, dict[str, dict]], path: Path = RESULTS, order: list[str] = ()) -> None:
    """Replace the plan's records by ``runs`` ({method: {seed: record}}), keep every other plan's, write atomically.
    Plans keep their place in the file (a new one goes last); within a plan, methods in ``order`` then seeds."""
    path = Path(path)
    kept = load(path)
    plans = list(dict.fromkeys([r["plan"] for r in kept] + [plan]))
    rank = {name: i for i, name in enumerate(order or runs)}
    mine = sorted((record for seeds in runs.values() for record in seeds.values()),
                  key=lambda r: (rank.get(r["method"], len(rank)), r["method"], int(r["seed"])))
    records = [r for p in plans for r in (mine if p == plan else [r for r in kept if r["plan"] == p])]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n")
    os.replace(tmp, path)


def mean_interval(xs: list[float]) -> tuple[float, float]:
    """(mean, half-width of its 95% t-interval): mean +- t_{0.975, n-1} s / sqrt(n); the half-width is nan
    for one value, which has no spread to measure."""
    m = statistics.mean(xs)
    if len(xs) < 2:
        return m, float("nan")
    return m, t975(len(xs) - 1) * statistics.stdev(xs) / len(xs) ** 0.5


def difference_interval(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """(mean(xs) - mean(ys), half-width of Welch's 95% interval of that difference).

    Welch: se^2 = s_x^2/n_x + s_y^2/n_y, with the Welch-Satterthwaite degrees of freedom
    df = se^4 / ((s_x^2/n_x)^2/(n_x-1) + (s_y^2/n_y)^2/(n_y-1)); nan when either side has one value.
    The difference is significant at the 5% level when the interval excludes 0.
    """
    difference = statistics.mean(xs) - statistics.mean(ys)
    if len(xs) < 2 or len(ys) < 2:
        return difference, float("nan")
    vx, vy = statistics.variance(xs) / len(xs), statistics.variance(ys) / len(ys)
    if vx + vy == 0:
        return difference, 0.0
    df = (vx + vy) ** 2 / (vx ** 2 / (len(xs) - 1) + vy ** 2 / (len(ys) - 1))
    return difference, t975(df) * math.sqrt(vx + vy)


def welch_p(xs: list[float], ys: list[float]) -> float:
    """Two-sided p-value of Welch's t test of mean(xs) = mean(ys): 2 P(T_df > |t|), t = (mean x - mean y) / se, with
    ``difference_interval``'s se and degrees of freedom; nan when either side has one value, 1 when neither varies
    and the means agree, 0 when neither varies and they differ."""
    if len(xs) < 2 or len(ys) < 2:
        return float("nan")
    difference = statistics.mean(xs) - statistics.mean(ys)
    vx, vy = statistics.variance(xs) / len(xs), statistics.variance(ys) / len(ys)
    if vx + vy == 0:
        return 1.0 if difference == 0 else 0.0
    df = (vx + vy) ** 2 / (vx ** 2 / (len(xs) - 1) + vy ** 2 / (len(ys) - 1))
    return 2 * t_tail(abs(difference) / math.sqrt(vx + vy), df)


def t_tail(t: float, df: float, intervals: int = 4000) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom, t >= 0: 1/2 minus the density's integral from 0 to
    t (Simpson's rule on ``intervals`` pieces; the density is smooth, so this is exact to ~1e-10 at these sizes)."""
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    density = lambda x: math.exp(log_c - (df + 1) / 2 * math.log1p(x * x / df))  # noqa: E731
    h = t / intervals
    inner = sum((4 if i % 2 else 2) * density(i * h) for i in range(1, intervals))
    return max(0.5 - h / 3 * (density(0.0) + inner + density(t)), 0.0)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values, in their order: the k-th smallest p is multiplied by
    (m - k + 1), and each adjusted p is at least the one before it (capped at 1). Rejecting where the adjusted p is
    below alpha keeps the chance of any false rejection in the family below alpha. nan stays nan, outside the family.
    """
    present = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    adjusted, running = list(p_values), 0.0
    for k, (p, i) in enumerate(present):
        running = max(running, min(1.0, (len(present) - k) * p))
        adjusted[i] = running
    return adjusted


def learning_speed(record: dict, start: float, gains: tuple[float, ...] = (0.10, 0.20)) -> dict:
    """How fast a run learned, from its record: ``auc``, the mean held-out accuracy over its evaluations after step
    0; and for each gain g, at the first evaluation at or above ``start`` + g (``start``: the warm start's accuracy),
    the ``steps``, the completion ``tokens`` sampled up to that step (the series' mean completion length per window
    of steps, times the window, times B * G) and the training ``seconds`` (evaluations not included). A run that
    never gets there has None for all three: it gets no number."""
    evaluations = [a for a in record["accuracy"] if a["step"] > 0]
    config = next(iter(record["config"].values()))
    per_step = config["prompts_per_step"] * config["group_size"]
    series = record["series"]
    speed = {"auc": statistics.mean(a["accuracy"] for a in evaluations)}
    for gain in gains:
        reached = next((a for a in evaluations if a["accuracy"] >= start + gain - 1e-9), None)
        key = f"+{round(gain * 100)}"
        if reached is None:
            speed[key] = {"steps": None, "tokens": None, "seconds": None}
            continue
        tokens, previous = 0.0, 0
        for step, length in zip(series["step"], series["completion_len"]):
            if step > reached["step"]:
                break
            tokens += length * (step - previous) * per_step
            previous = step
        speed[key] = {"steps": reached["step"], "tokens": round(tokens), "seconds": reached["wall_s"]}
    return speed


def final_accuracy(record: dict) -> float:
    """Held-out greedy accuracy at the run's last evaluation."""
    return record["accuracy"][-1]["accuracy"]


def best_accuracy(record: dict) -> float:
    """The best held-out accuracy of any evaluation (an optimistic number: it picks the maximum of noisy ones)."""
    return max(a["accuracy"] for a in record["accuracy"])


def method_rows(runs: dict) -> list[dict]:
    """One row per method of ``runs`` ({method: {seed: record}}): seeds, final and best accuracy (mean and 95%
    half-width), median seconds per step, and the where-the-signal-is metrics averaged over steps and seeds."""
    rows = []
    for name, seeds in runs.items():
        records = list(seeds.values())
        rows.append({
            "name": name, "seeds": len(records),
            "final": mean_interval([final_accuracy(r) for r in records]),
            "best": mean_interval([best_accuracy(r) for r in records]),
            "step_s": statistics.mean(r["median_step_s"] for r in records),
            **{m: statistics.mean(r["mean"][m] for r in records)
               for m in ("zero_spread_frac", "adv_nonzero_frac", "adv_abs_mean")
               if all(m in r["mean"] for r in records)},
        })
    return rows
