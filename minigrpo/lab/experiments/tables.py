"""The tables of results, each generated from the results file (results.py) by one function here.

readme.py puts them into the README and the book's pages (docs/*.md), with the blocks that come from the code and
the checkpoints, and tests/test_readme.py fails when a document shows another table than these functions generate.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from . import results as res
from .plans import PLAN_TASKS, PLANS, SEEDS, SKILLED_STEPS, TASKS

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
    lines = ["| run | seeds | mean accuracy over training | final accuracy | best accuracy | process-verified | pass@1 "
             "| pass@4 | pass@8 | s per step | CPU |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    warm_starts = res.plan_runs("warm_start", path)
    default_steps = TASKS["steps3"].warmup_steps
    starts = [("warmup", "`data/warmstart.pt`")]
    for task in PLAN_TASKS.values():
        starts += [(f"warmup_{task}_default_steps", f"{task}: the default recipe's {default_steps} steps, not shipped"),
                   (f"warmup_{task}", f"`data/{task}/warmstart.pt`: {TASKS[task].warmup_steps} steps")]
    starts.append(("warmup_skilled", f"`data/skilled_warmstart.pt`: {SKILLED_STEPS} steps, the critic plan's "
                                      "critic body"))
    for method, what in starts:
        start = warm_starts.get(method, {}).get("0")
        if start:
            lines.append(f"| warm start ({what}) | - | - | {res.final_accuracy(start):.3f} | - | "
                         f"{_evals([start], 'process_verified_accuracy')} | {_evals([start], 'pass@1')} | "
                         f"{_evals([start], 'pass@4')} | {_evals([start], 'pass@8')} | - | {_cpus([start])} |")
    warm = warm_starts.get("warmup", {}).get("0")
    for label, plan, method in HEADLINE:
        records = list(res.plan_runs(plan, path).get(method, {}).values())
        if not records:
            lines.append(f"| {label} | 0 | not run yet (`python -m minigrpo sweep {plan}`) | | | | | | | | |")
            continue
        auc = cell(res.mean_interval([res.learning_speed(r, res.final_accuracy(warm))["auc"] for r in records])) \
            if warm else "-"
        lines.append(
            f"| {label} | {len(records)} | {auc} | "
            f"{cell(res.mean_interval([res.final_accuracy(r) for r in records]))} | "
            f"{cell(res.mean_interval([res.best_accuracy(r) for r in records]))} | "
            f"{_evals(records, 'process_verified_accuracy')} | {_evals(records, 'pass@1')} | "
            f"{_evals(records, 'pass@4')} | {_evals(records, 'pass@8')} | "
            f"{statistics.mean(r['median_step_s'] for r in records):.2f} | {_cpus(records)} |")
    return "\n".join(lines)


def significance_table(path: Path = res.RESULTS) -> str:
    """Each headline method minus the paper's GRPO, on the mean accuracy over training and on the final accuracy:
    Welch's 95% interval, and the p-value Holm-corrected over every test of the table (the credit methods on every
    task and metric: ``credit_tests_table``)."""
    base = list(res.plan_runs(*BASELINE[:1], path).get(BASELINE[1], {}).values())
    start = warm_start_accuracy("credit", path)
    rows = []
    for label, plan, method in HEADLINE:
        records = list(res.plan_runs(plan, path).get(method, {}).values())
        if (plan, method) == BASELINE or not records or not base or start is None:
            continue
        tests = []
        for value in (lambda r: res.learning_speed(r, start)["auc"], res.final_accuracy):
            xs, ys = [value(r) for r in records], [value(r) for r in base]
            tests.append((*res.difference_interval(xs, ys), res.welch_p(xs, ys)))
        rows.append((label, len(records), len(base), tests))
    adjusted = iter(res.holm([p for *_, tests in rows for *_, p in tests]))
    lines = ["| run | seeds | mean accuracy over training minus GRPO's (95% interval; Holm p) | final accuracy minus "
             "GRPO's (95% interval; Holm p) |", "|---|---|---|---|"]
    for label, n, n_base, tests in rows:
        cells = []
        for difference, half, _ in tests:
            holm = next(adjusted)
            shown = f"{difference:+.3f}" if half != half else f"{difference:+.3f} ± {half:.3f}"
            text = f"{shown}; p = {holm:.2g}" if holm == holm else f"{shown}; one seed on a side"
            cells.append(f"**{text}**" if holm < 0.05 else text)
        lines.append(f"| {label} | {n} vs {n_base} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


GAINS = (0.10, 0.20)  # the learning-speed targets: the warm start's accuracy + 10 and + 20 points
CREDIT_PLANS = ("credit", *PLAN_TASKS)  # the credit comparison on each task: 3, 5 and 7 steps


def warm_start_accuracy(plan: str, path: Path = res.RESULTS) -> float | None:
    """The accuracy of the warm start a plan's runs start from (its task's), None where it has no record."""
    task = PLAN_TASKS.get(plan)
    warm = res.plan_runs("warm_start", path).get(f"warmup_{task}" if task else "warmup", {}).get("0")
    return res.final_accuracy(warm) if warm else None


def speeds(plan: str, path: Path = res.RESULTS) -> dict[str, list[dict]]:
    """{method: [learning_speed of each seed's record]} of a plan, from its task's warm start; {} without one."""
    start = warm_start_accuracy(plan, path)
    if start is None:
        return {}
    return {method: [res.learning_speed(r, start, GAINS) for r in seeds.values()]
            for method, seeds in res.plan_runs(plan, path).items()}


def _to_target(speed: list[dict], key: str) -> str:
    """Median steps to a target over the seeds that reached it, and how many of them did."""
    steps = [s[key]["steps"] for s in speed if s[key]["steps"] is not None]
    return f"{statistics.median(steps):.0f} ({len(steps)}/{len(speed)})" if steps else f"never (0/{len(speed)})"


def credit_table(path: Path = res.RESULTS, plan: str = "credit") -> str:
    """A credit plan: the primary metric (mean accuracy over the evaluations after step 0), final and best accuracy
    over seeds, the median steps to the warm start + 10 and + 20 points (and how many seeds got there), seconds per
    step, and where the learning signal is."""
    lines = ["| run | seeds | mean accuracy over training | final accuracy | best accuracy | steps to +10 points "
             "| steps to +20 points | s per step | zero-spread groups | tokens with A ≠ 0 | mean \\|A\\| |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    by_method = speeds(plan, path)
    if not res.plan_runs(plan, path):
        lines.append(f"| not run yet (`python -m minigrpo sweep {plan}`) |" + " |" * 10)
    for row in res.method_rows(res.plan_runs(plan, path)):
        speed = by_method.get(row["name"], [])
        auc = cell(res.mean_interval([s["auc"] for s in speed])) if speed else "-"
        lines.append(f"| `{row['name']}` | {row['seeds']} | {auc} | {cell(row['final'])} | {cell(row['best'])} | "
                     f"{_to_target(speed, '+10') if speed else '-'} | {_to_target(speed, '+20') if speed else '-'} | "
                     f"{row['step_s']:.2f} | {row['zero_spread_frac']:.2f} | {row['adv_nonzero_frac']:.2f} | "
                     f"{row['adv_abs_mean']:.3f} |")
    return "\n".join(lines)


# The family of tests docs/credit.md declares: every credit method against GRPO outcome, on each task, each metric.
METRICS = [("mean accuracy over training (primary)", lambda s, r: s["auc"]),
           ("final accuracy", lambda s, r: res.final_accuracy(r)),
           ("steps to +10 points", lambda s, r: s["+10"]["steps"]),
           ("steps to +20 points", lambda s, r: s["+20"]["steps"])]


def credit_tests(path: Path = res.RESULTS) -> list[dict]:
    """Every comparison of the declared family: (task plan, method, metric), the difference from GRPO outcome with
    Welch's 95% interval and p-value, and the p-value Holm-corrected over the whole family. A metric some run of
    the pair has no number for (it never reached the target) is not tested: it is reported, outside the family."""
    tests = []
    for plan in CREDIT_PLANS:
        runs, by_method = res.plan_runs(plan, path), speeds(plan, path)
        base = list(zip(by_method.get("grpo_outcome", []), runs.get("grpo_outcome", {}).values()))
        for method, seeds in runs.items():
            if method == "grpo_outcome" or not base:
                continue
            mine = list(zip(by_method[method], seeds.values()))
            for metric, value in METRICS:
                xs, ys = [value(s, r) for s, r in mine], [value(s, r) for s, r in base]
                test = {"plan": plan, "method": method, "metric": metric, "n": (len(xs), len(ys))}
                if None in xs or None in ys:
                    test["never"] = xs.count(None) + ys.count(None)
                else:
                    test["difference"], test["half"] = res.difference_interval(xs, ys)
                    test["p"] = res.welch_p(xs, ys)
                tests.append(test)
    adjusted = res.holm([t.get("p", float("nan")) for t in tests])
    for test, p in zip(tests, adjusted):
        test["holm"] = p
    return tests


def credit_tests_table(path: Path = res.RESULTS) -> str:
    """The declared family, one row per task and method, a cell per metric: difference from GRPO outcome ± Welch's
    95% half-width, and the Holm-corrected p-value; a bold cell is significant at 5% after the correction."""
    tests = credit_tests(path)
    lines = ["| task | run | seeds | " + " | ".join(m for m, _ in METRICS) + " |",
             "|---|---|---|" + "---|" * len(METRICS)]
    rows: dict[tuple[str, str], list[dict]] = {}
    for test in tests:
        rows.setdefault((test["plan"], test["method"]), []).append(test)
    for (plan, method), row in rows.items():
        cells = []
        for test in row:
            if "never" in test:
                cells.append(f"not tested: {test['never']} runs never got there")
                continue
            digits = 3 if test["metric"].endswith(("(primary)", "accuracy")) else 0
            shown = f"{test['difference']:+.{digits}f}" + ("" if test["half"] != test["half"]
                                                           else f" ± {test['half']:.{digits}f}")
            text = f"{shown} (p = {test['holm']:.2f})"
            cells.append(f"**{text}**" if test["holm"] < 0.05 else text)
        task = PLAN_TASKS.get(plan, "steps3").removeprefix("steps") + " steps"
        lines.append(f"| {task} | `{method}` | {row[0]['n'][0]} vs {row[0]['n'][1]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def critic_table(path: Path = res.RESULTS) -> str:
    """The critic plan: each recipe's share of V_MC's drop at a first slip, per step index (``localize`` on the run's
    critic; mean over seeds), next to what PPO learned with it and what a step cost."""
    runs = res.plan_runs("critic", path)
    lines = ["| recipe | seeds | the critic's share of V_MC's drop at steps 1 / 2 / 3 (first slips) | mean accuracy "
             "over training | final accuracy | s per step |", "|---|---|---|---|---|---|"]
    if not runs:
        lines.append("| not run yet (`python -m minigrpo sweep critic`) | | | | | |")
    by_method = speeds("critic", path)
    for row in res.method_rows(runs):
        records = list(runs[row["name"]].values())
        shares = []
        for j in ("1", "2", "3"):
            found = [r["final_eval"]["localization"].get(j) for r in records
                     if "localization" in (r.get("final_eval") or {})]
            values = [at["fraction"] for at in found if at is not None and at["fraction"] == at["fraction"]]
            shares.append(f"{statistics.mean(values):.0%} ({sum(at['pairs'] for at in found if at)} slips)"
                          if values else "-")
        auc = cell(res.mean_interval([s["auc"] for s in by_method[row["name"]]])) if by_method else "-"
        lines.append(f"| `{row['name']}` | {row['seeds']} | {' / '.join(shares)} | {auc} | {cell(row['final'])} | "
                     f"{row['step_s']:.2f} |")
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
