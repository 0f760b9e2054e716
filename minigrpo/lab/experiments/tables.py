"""The README's tables of results, each generated from the results file (results.py) by one function here.

readme.py puts them into the README, with the blocks that come from the code and the checkpoints, and
tests/test_readme.py fails when the README shows another table than these functions generate.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from . import results as res
from .plans import PLANS, SEEDS

# The headline runs, in the order the Results table lists them: (label, plan, method).
HEADLINE = [
    ("GRPO, outcome reward (the paper's)", "credit", "grpo_outcome"),
    ("GRPO, process supervision", "credit", "grpo_process"),
    ("PPO, learned critic + GAE", "credit", "ppo"),
    ("VinePPO, Monte Carlo step values", "credit", "vineppo"),
    ("GRPO on the learned ORM", "reward_models", "grpo_orm"),
    ("GRPO on the learned PRM", "reward_models", "grpo_prm"),
    ("control: random reward, p = 0.5", "controls", "random_reward"),
    ("control: format reward only", "controls", "format_only"),
]
BASELINE = ("credit", "grpo_outcome")  # the method every other one is compared with


def cell(mean_half: tuple[float, float]) -> str:
    """'mean ± half-width', or the mean alone where one seed has no interval."""
    mean, half = mean_half
    return f"{mean:.3f}" if half != half else f"{mean:.3f} ± {half:.3f}"


def _evals(records: list[dict], key: str) -> str:
    values = [r["final_eval"][key] for r in records if (r.get("final_eval") or {}).get(key) is not None]
    return cell(res.mean_interval(values)) + ("" if len(values) == len(records) else f" ({len(values)})") \
        if values else "-"


def _cpus(records: list[dict]) -> str:
    """The CPUs the runs were trained on, each with its number of runs where there is more than one kind (another
    kind of CPU rounds differently: its runs are other seeds' worth of variation, not repeats of the same ones)."""
    names = [(r.get("cpu") or "not recorded").replace("(R)", "").replace(" Processor", "") for r in records]
    kinds = sorted(set(names))
    return "; ".join(f"{n} ({names.count(n)})" if len(kinds) > 1 else n for n in kinds)


def results_table(path: Path = res.RESULTS) -> str:
    """The headline runs over seeds: final and best greedy accuracy, process-verified accuracy and sampled
    pass@k of the final policy (mean ± 95% half-width), the median step's seconds (robust to other jobs on a shared
    machine, unlike a run's total), and the CPUs they ran on."""
    lines = ["| run | seeds | final accuracy | best accuracy | process-verified | pass@1 | pass@4 | pass@8 "
             "| s per step | CPU |", "|---|---|---|---|---|---|---|---|---|---|"]
    warm = res.plan_runs("warm_start", path).get("warmup", {}).get("0")
    if warm:
        lines.append(f"| warm start (`data/warmstart.pt`) | - | {res.final_accuracy(warm):.3f} | - | "
                     f"{_evals([warm], 'process_verified_accuracy')} | {_evals([warm], 'pass@1')} | "
                     f"{_evals([warm], 'pass@4')} | {_evals([warm], 'pass@8')} | - | "
                     f"{_cpus([warm])} |")
    for label, plan, method in HEADLINE:
        records = list(res.plan_runs(plan, path).get(method, {}).values())
        if not records:
            lines.append(f"| {label} | 0 | not run yet (`python -m minigrpo sweep {plan}`) | | | | | | | |")
            continue
        lines.append(
            f"| {label} | {len(records)} | {cell(res.mean_interval([res.final_accuracy(r) for r in records]))} | "
            f"{cell(res.mean_interval([res.best_accuracy(r) for r in records]))} | "
            f"{_evals(records, 'process_verified_accuracy')} | {_evals(records, 'pass@1')} | "
            f"{_evals(records, 'pass@4')} | {_evals(records, 'pass@8')} | "
            f"{statistics.mean(r['median_step_s'] for r in records):.2f} | {_cpus(records)} |")
    return "\n".join(lines)


def significance_table(path: Path = res.RESULTS) -> str:
    """Each headline method's final accuracy minus the paper's GRPO's, with Welch's 95% interval."""
    base = list(res.plan_runs(*BASELINE[:1], path).get(BASELINE[1], {}).values())
    lines = ["| run | seeds | final accuracy minus GRPO's (95% interval) | significant at 5%? |", "|---|---|---|---|"]
    for label, plan, method in HEADLINE:
        records = list(res.plan_runs(plan, path).get(method, {}).values())
        if (plan, method) == BASELINE or not records or not base:
            continue
        difference, half = res.difference_interval([res.final_accuracy(r) for r in records],
                                                   [res.final_accuracy(r) for r in base])
        if half != half:
            verdict = "cannot tell: one seed on a side"
        elif abs(difference) > half:
            verdict = "yes, " + ("higher" if difference > 0 else "lower")
        else:
            verdict = "no: the interval holds 0"
        shown = f"{difference:+.3f}" if half != half else f"{difference:+.3f} ± {half:.3f}"
        lines.append(f"| {label} | {len(records)} vs {len(base)} | {shown} | {verdict} |")
    return "\n".join(lines)


def credit_table(path: Path = res.RESULTS) -> str:
    """The credit sweep: accuracy over seeds, seconds per step, where the learning signal is."""
    lines = ["| run | seeds | final accuracy | best accuracy | s per step | zero-spread groups | tokens with A ≠ 0 "
             "| mean \\|A\\| |", "|---|---|---|---|---|---|---|---|"]
    for row in res.method_rows(res.plan_runs("credit", path)):
        lines.append(f"| `{row['name']}` | {row['seeds']} | {cell(row['final'])} | {cell(row['best'])} | "
                     f"{row['step_s']:.2f} | {row['zero_spread_frac']:.2f} | {row['adv_nonzero_frac']:.2f} | "
                     f"{row['adv_abs_mean']:.3f} |")
    return "\n".join(lines)


def _late_mean(records: list[dict], metric: str, fmt: str) -> str:
    """A metric over the last third of the steps (the series' windows after it), averaged over seeds; '-' where
    the runs did not log it."""
    values = []
    for record in records:
        series, after = record["series"], record["accuracy"][-1]["step"] * 2 // 3
        window = [v for s, v in zip(series["step"], series.get(metric, [])) if s > after]
        values += [statistics.mean(window)] if window else []
    return fmt.format(statistics.mean(values)) if values else "-"


def variants_table(path: Path = res.RESULTS) -> str:
    """The variants plan: accuracy at each evaluation and final (mean ± 95% half-width over seeds), the sampled
    reward, KL and clip fraction over the last third of the steps, and the format reward where it is logged."""
    runs = res.plan_runs("variants", path)
    lines = ["| variant | seeds | accuracy at steps 50 / 100 / 150 (means) | final accuracy | sampled reward, "
             "steps 101-150 | KL | clip fraction | format reward |", "|---|---|---|---|---|---|---|---|"]
    if not runs:
        lines.append("| not run yet (`python -m minigrpo sweep variants --seeds 0 1 2`) | | | | | | | |")
    for name, seeds in runs.items():
        records = list(seeds.values())
        steps = [a["step"] for a in records[0]["accuracy"] if a["step"] > 0]
        means = [statistics.mean(next(a["accuracy"] for a in r["accuracy"] if a["step"] == s) for r in records)
                 for s in steps]
        lines.append(f"| `{name}` | {len(records)} | {' / '.join(f'{m:.3f}' for m in means)} | "
                     f"{cell(res.mean_interval([res.final_accuracy(r) for r in records]))} | "
                     f"{_late_mean(records, 'reward_mean', '{:.3f}')} | {_late_mean(records, 'kl', '{:.3f}')} | "
                     f"{_late_mean(records, 'clip_frac', '{:.2%}')} | "
                     f"{_late_mean(records, 'reward_format', '{:.3f}')} |")
    return "\n".join(lines)


# reward source -> (plan, run name)
SOURCES = [("outcome verifier", "credit", "grpo_outcome"), ("ORM `data/orm.pt`", "reward_models", "grpo_orm"),
           ("step verifier", "credit", "grpo_process"), ("PRM `data/prm.pt`", "reward_models", "grpo_prm"),
           ("step verifier, 20% of labels flipped", "step_label_noise", "grpo_process_noise0.2")]


def reward_sources_table(path: Path = res.RESULTS) -> str:
    """GRPO on each reward source, seed 0: accuracy, the reward it maximized next to the verifier's, KL."""
    lines = ["| reward source | run | final accuracy | best accuracy | learned reward, last 10 steps | "
             "verifier reward, last 10 steps | mean KL | trained on |", "|---|---|---|---|---|---|---|---|"]
    for label, plan, name in SOURCES:
        run = res.plan_runs(plan, path).get(name, {}).get("0")
        if run is None:
            lines.append(f"| {label} | `{name}` | not run yet (`python -m minigrpo sweep {plan}`) | | | | | |")
            continue
        learned = run["series"].get("learned_reward_mean")
        lines.append(f"| {label} | `{name}` | {res.final_accuracy(run):.3f} | {res.best_accuracy(run):.3f} | "
                     f"{f'{learned[-1]:.3f}' if learned else '-'} | {run['series']['reward_mean'][-1]:.3f} | "
                     f"{run['mean']['kl']:.3f} | {_cpus([run])} |")
    return "\n".join(lines)


def compute_table(path: Path = res.RESULTS, data: Path | None = None) -> str:
    """What the runs of the results file cost: runs and hours of training per plan, summed from their records; then
    what a full ``reproduce`` would take at their speeds, and what the last one took (``data``/reproduce.json)."""
    lines = ["| plan | runs | hours of training, summed |", "|---|---|---|"]
    total = 0.0
    for plan in dict.fromkeys(r["plan"] for r in res.load(path)):
        records = [r for seeds in res.plan_runs(plan, path).values() for r in seeds.values()]
        hours = sum(r["wall_s"] for r in records) / 3600
        total += hours
        lines.append(f"| `{plan}` | {len(records)} | {hours:.2f} |")
    lines.append(f"| all | | {total:.2f} |")
    measured = Path(data or Path(path).parent) / "reproduce.json"
    return "\n".join(lines) + "\n\n" + reproduce_estimate(path) + (
        " " + reproduce_measured(json.loads(measured.read_text())) if measured.exists() else "")


def reproduce_measured(log: dict) -> str:
    """The sentence on the last reproduction: its hours, stage by stage (reproduce.py: ``Reproduction.measured``)."""
    stages = ", ".join(f"{stage.replace('_', ' ')} {seconds / 3600:.2f}" for stage, seconds in log["seconds"].items())
    untimed = (f"; {log['not_timed']} pieces made before their time was recorded are not in it" if log["not_timed"]
               else "")
    return (f"Measured: the last `python -m minigrpo reproduce` took {log['total'] / 3600:.1f} hours on "
            f"{_cpus([log])} with {log['runs']} runs (hours per stage: {stages}{untimed}).")


def reproduce_estimate(path: Path = res.RESULTS) -> str:
    """What a full ``reproduce`` would train (plans.py), and the hours that takes at each method's recorded speed:
    steps times the median step's seconds, the mean over the method's records (evaluations not counted)."""
    runs, hours, missing = 0, 0.0, set()
    for plan, seeds in SEEDS.items():
        recorded = res.plan_runs(plan, path)
        for method in PLANS[plan]:
            runs += len(seeds)
            records = list(recorded.get(method, {}).values())
            if not records:
                missing.add(f"{plan}/{method}")
                continue
            seconds = statistics.mean(r["accuracy"][-1]["step"] * r["median_step_s"] for r in records)
            hours += len(seeds) * seconds / 3600
    unknown = f"; {len(missing)} methods have no record yet, so their runs are not in that sum" if missing else ""
    return (f"A full `python -m minigrpo reproduce` trains {runs} runs: about {hours:.1f} hours of training steps at "
            f"the speeds recorded here{unknown}.")
