"""The generated blocks of the README and of the book's pages (docs/*.md): the tables of results (tables.py), the
headline numbers, the course map, and the blocks read from the checkpoints and the code.

Each block sits in exactly one document, between ``<!-- NAME start -->`` and ``<!-- NAME end -->``.
``update_documents`` rewrites them all (``python -m minigrpo reproduce`` does, as its last stage; so does ``python
tests/test_readme.py``), and tests/test_readme.py fails when one differs from what this module generates, so a
number in a table can never disagree with the record it came from.
"""

from __future__ import annotations

import ast
import difflib
import json
import math
import re
from pathlib import Path

from ...config import GRPOConfig
from ...task import DATA_DIR
from . import results as res
from . import tables

ROOT = Path(__file__).resolve().parents[3]  # the repository: minigrpo/, README.md, docs/, notebooks/


def documents(root: Path = ROOT) -> list[Path]:
    """The documents that hold generated blocks: the README, then the book's pages."""
    return [Path(root) / "README.md", *sorted((Path(root) / "docs").glob("*.md"))]


def reward_models_table(data: Path = DATA_DIR) -> str:
    """The shipped reward models, from the held-out report in each checkpoint's meta."""
    from ...checkpoint import load_checkpoint
    from ..reward_models.model import ValueModel

    lines = ["| model | kind | held-out positions | agrees with its labels | agrees with the verifier | ECE | Brier "
             "| first wrong step found (labels) |", "|---|---|---|---|---|---|---|---|"]
    for name in ("orm", "prm"):
        _, meta = load_checkpoint(Path(data) / f"{name}.pt", build=ValueModel)
        r = meta["heldout"]
        first = (f"{r['first_error_found']:.1%} ({r['first_error_labels']:.1%})" if "first_error_found" in r
                 else "n/a")
        lines.append(f"| `data/{name}.pt` | {meta['kind']} | {r['positions']} | {r['accuracy']:.1%} | "
                     f"{r['verifier_accuracy']:.1%} | {r['ece']:.3f} | {r['brier']:.3f} | {first} |")
    return "\n".join(lines)


def _loop(path: str, function: str) -> list[str]:
    """sed -n '/^def NAME/,$p' FILE: the lines from the function's definition to the end of the file."""
    lines = (ROOT / path).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"def {function}"))
    return lines[start:]


def loop_diff() -> str:
    """What `diff -U1` prints for the two loops, without its two file-name lines, in a diff block."""
    grpo, ppo = _loop("minigrpo/grpo/trainer.py", "train_grpo"), _loop("minigrpo/ppo/trainer.py", "train_ppo")
    return "```diff\n" + "\n".join(list(difflib.unified_diff(grpo, ppo, n=1, lineterm=""))[2:]) + "\n```"


# The lesson's root modules in reading order (minigrpo/__init__.py); a module not listed comes after them.
READING_ORDER = ("__init__", "config", "tokenizer", "model", "task", "rewards", "masked", "checks", "warmup",
                 "evaluate", "metrics", "prefix_values", "checkpoint", "__main__", "grpo", "ppo", "lab")


def files_tree() -> str:
    """The package, one line per module: its path, its length in lines, and how its docstring begins."""
    package = ROOT / "minigrpo"

    def order(path: Path):
        parts = path.relative_to(package).with_suffix("").parts
        top = READING_ORDER.index(parts[0]) if parts[0] in READING_ORDER else len(READING_ORDER)
        return top, len(parts) > 1 and parts[0] == "lab" and len(parts) > 2, parts[:-1], parts[-1] != "__init__", parts

    lines, rooms = [], {}
    for path in sorted(package.rglob("*.py"), key=order):
        relative = path.relative_to(package)
        length = len(path.read_text().splitlines())
        room = "lab" if relative.parts[0] == "lab" else "lesson"
        rooms[room] = rooms.get(room, 0) + length
        doc = (ast.get_docstring(ast.parse(path.read_text())) or "").split("\n\n")[0].replace("\n", " ")
        first = doc if len(doc) <= 80 else doc[:doc.rfind(" ", 0, 78)] + " ..."
        lines.append(f"  {str(relative):38}{length:5}  {first}")
    head = (f"minigrpo/  the lesson {rooms['lesson']} lines (the package root, grpo/, ppo/), the lab {rooms['lab']} "
            "lines (lab/)")
    return "```\n" + "\n".join([head, *lines]) + "\n```"


def bug_table(effects: Path | None = None) -> str:
    """The catalogue of the bug zoo (minigrpo/lab/bugzoo/catalogue.py) and, once ``bugzoo --effects`` has measured
    every bug (data/bugzoo_effects.json), what each does to a short training run at each mu."""
    from ..bugzoo import BUGS
    from ..bugzoo import effects as zoo_effects

    path = Path(effects) if effects else zoo_effects.RESULTS
    measured = json.loads(path.read_text()) if path.is_file() else None
    if measured and not all(any(r["bug"] == bug.name for r in measured["runs"].values()) for bug in BUGS):
        measured = None  # a table shows every bug's effect or none
    effect = (f" | {measured['conditions']['steps']}-step run: held-out accuracy against the same run without it, "
              "its KL as a multiple of that run's" if measured else "")
    lines = [f"| bug | what it does (first sentence) | found in | planted against{effect} |",
             "|---|---|---|---|" + "---|" * bool(measured)]
    for bug in BUGS:
        first = bug.description.split(". ")[0].rstrip(".").replace("|", "\\|") + "."  # a bare | ends a cell
        where = bug.source.removeprefix("https://github.com/")
        tests = ", ".join(f"`{t.removeprefix('tests/')}`" for t in bug.tests)
        cell = f" | {zoo_effects.effect_cell(measured, bug.name)}" if measured else ""
        lines.append(f"| `{bug.name}` | {first} | [{where}]({bug.source}) | {tests}{cell} |")
    return "\n".join(lines)


# The course map's study time: the words of a notebook's text read at WORDS_PER_MINUTE, plus MINUTES_PER_CODE_CELL
# for each code cell (read it, run it, look at what it prints), rounded up to ROUND_TO minutes.
WORDS_PER_MINUTE = 150
MINUTES_PER_CODE_CELL = 1
ROUND_TO = 5

# Each notebook's place in the course: "core" (from the policy gradient to GRPO, PPO and the mistakes people make
# in them) or "advanced". A notebook not named here stops the course map with a message, so that each gets one.
LEVELS = {
    "00_policy_gradient_to_ppo": "core", "01_big_picture": "core", "02_tiny_gpt_and_tokenizer": "core",
    "03_task_and_rewards": "core", "04_sampling_a_group": "core", "05_group_normalization": "core",
    "06_ratio_clipping_and_kl": "core", "06b_appendix_kl_estimator_gradients": "advanced",
    "07_training_with_grpo": "core", "08_critic_vs_group_baseline": "core",
    "08b_does_the_critic_localize": "advanced", "09_process_supervision": "advanced",
    "10_grpo_variants": "advanced", "11_bug_zoo": "core", "12_reward_sources": "advanced",
    "13_data_parallel": "advanced",
}


def notebooks(root: Path = ROOT) -> list[Path]:
    """The course's notebooks in reading order, which is the order of their file names (8b after 8)."""
    return sorted((Path(root) / "notebooks").glob("*.ipynb"))


def study_minutes(notebook: Path) -> int:
    """Minutes to study a notebook, by the rule above: words / WORDS_PER_MINUTE + code cells, rounded up."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    words = sum(len("".join(c["source"]).split()) for c in cells if c["cell_type"] == "markdown")
    code = sum(c["cell_type"] == "code" for c in cells)
    return ROUND_TO * math.ceil((words / WORDS_PER_MINUTE + code * MINUTES_PER_CODE_CELL) / ROUND_TO)


def title(notebook: Path) -> str:
    """The notebook's title: its first heading, without its number ("# 8b. Does ..." -> "Does ...")."""
    first = "".join(json.loads(Path(notebook).read_text())["cells"][0]["source"]).splitlines()[0]
    return re.sub(r"^#+\s*(\d+b?\.\s+)?", "", first).strip()


def _hours(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return " ".join([f"{hours} h"] * (hours > 0) + [f"{rest} min"] * (rest > 0 or not hours))


def course_map(root: Path = ROOT) -> str:
    """Every notebook in reading order: its number, title, place in the course and study time."""
    lines = ["| # | notebook | path | study time |", "|---|---|---|---|"]
    minutes = {"core": 0, "all": 0}
    count = {"core": 0, "all": 0}
    for notebook in notebooks(root):
        level = LEVELS.get(notebook.stem)
        if level is None:
            raise ValueError(f"{notebook.name} has no place in the course: add it to LEVELS in {__name__}")
        number = notebook.stem.split("_")[0].lstrip("0") or "0"
        time = study_minutes(notebook)
        lines.append(f"| {number} | [{title(notebook)}](./notebooks/{notebook.name}) | {level} | {time} min |")
        for path in ("all", "core") if level == "core" else ("all",):
            minutes[path] += time
            count[path] += 1
    rule = (f"Study time: the words of a notebook's text at {WORDS_PER_MINUTE} a minute, plus {MINUTES_PER_CODE_CELL} "
            f"minute per code cell, rounded up to {ROUND_TO} minutes (`study_minutes` in "
            "`minigrpo/lab/experiments/readme.py`).")
    return "\n".join(lines) + (f"\n\nThe core path, {count['core']} notebooks, takes about {_hours(minutes['core'])}; "
                               f"all {count['all']}, about {_hours(minutes['all'])}. {rule}")


def headline(path: Path = res.RESULTS) -> str:
    """One sentence of the headline runs' final accuracy, from the results file (the Results table's rows)."""
    warm = res.plan_runs("warm_start", path).get("warmup", {}).get("0")
    runs = {(plan, method): list(res.plan_runs(plan, path).get(method, {}).values())
            for _, plan, method in tables.HEADLINE}
    grpo = runs[tables.BASELINE]
    if warm is None or not grpo:
        return "No headline run is recorded yet (`make sweep` trains them)."

    def final(plan, method):
        records = runs[(plan, method)]
        return f"{tables.cell(res.mean_interval([res.final_accuracy(r) for r in records]))} ({len(records)} seeds)"

    others = {("credit", "grpo_process"): "process supervision", ("credit", "ppo"): "PPO with a learned critic",
              ("credit", "vineppo"): "VinePPO", ("reward_models", "grpo_orm"): "GRPO on a learned outcome reward model"}
    rest = "; ".join(f"{label} {final(*key)}" for key, label in others.items() if runs.get(key))
    return (f"Greedy accuracy on the {warm['final_eval']['n']} held-out problems: the warm start "
            f"{res.final_accuracy(warm):.3f}; after {grpo[0]['accuracy'][-1]['step']} steps of GRPO with the paper's "
            f"outcome reward, {final(*tables.BASELINE)}" + (f"; {rest}." if rest else ".") +
            " Each is the mean over seeds ± the half-width of its 95% interval.")


def run_time(path: Path = res.RESULTS) -> str:
    """What `make run` costs on the CPU: its GRPO steps at the Results' GRPO runs' median step; its evaluations."""
    cfg = GRPOConfig()
    evaluations = cfg.steps // cfg.eval_every + 1 + 2  # the run's own (step 0 included), and `eval` before and after
    records = list(res.plan_runs(tables.BASELINE[0], path).get(tables.BASELINE[1], {}).values())
    if not records:
        return f"`make run` trains GRPO for {cfg.steps} steps and evaluates {evaluations} times."
    step_s = sum(r["median_step_s"] for r in records) / len(records)
    return (f"On a 2-core CPU, `make run` trains GRPO for {cfg.steps} steps, about {round(cfg.steps * step_s / 60)} "
            f"minutes at the {step_s:.2f} s per step of the Results' GRPO runs, and evaluates {evaluations} times.")


# The teaching page's syllabi: lectures of the course map's notebooks, each with the exercises that go with them
# (names of minigrpo/lab/exercises, graded by ``make exercise NAME=...``); a notebook not taught is further reading.
SYLLABI = {
    "3 lectures (the core path)": [
        ("From the policy gradient to GRPO", ["00", "01", "02"], ["token_logprobs"]),
        ("The steps, one by one", ["03", "04", "05", "06"],
         ["group_advantages", "clipped_surrogate", "kl_k3", "grpo_objective"]),
        ("Training, and what the critic buys", ["07", "08", "11"], ["train_grpo", "gae", "clipped_value_loss"]),
    ],
    "6 lectures (core and advanced)": [
        ("The policy gradient, and GRPO in one page", ["00", "01"], []),
        ("The model, the task, sampling a group", ["02", "03", "04"], ["token_logprobs"]),
        ("The advantage, the ratio, the clip, the KL", ["05", "06"],
         ["group_advantages", "clipped_surrogate", "kl_k3", "grpo_objective"]),
        ("Training GRPO, and the bugs it survives", ["07", "11"], ["train_grpo"]),
        ("PPO's critic, and whether it localizes a slip", ["08", "08b"], ["gae", "clipped_value_loss"]),
        ("Credit per step, variants, learned rewards", ["09", "10", "12"], ["process_advantages", "reward_model_loss"]),
    ],
}


def syllabi(root: Path = ROOT) -> str:
    """Each syllabus as a table: per lecture its notebooks, their study time (the course map's) and its exercises."""
    from ..exercises import EXERCISES

    notebooks = {path.name.split("_")[0]: path for path in sorted((root / "notebooks").glob("*.ipynb"))}
    out = []
    for name, lectures in SYLLABI.items():
        taught = {number for _, numbers, _ in lectures for number in numbers}
        unknown = sorted(taught - set(notebooks)) + sorted(
            e for _, _, exercises in lectures for e in exercises if e not in EXERCISES)
        if unknown:
            raise ValueError(f"syllabus {name!r} names notebooks or exercises that do not exist: {unknown}")
        lines = [f"**{name}**", "", "| lecture | notebooks | study time | exercises |", "|---|---|---|---|"]
        total = 0
        for k, (topic, numbers, exercises) in enumerate(lectures, 1):
            minutes = sum(study_minutes(notebooks[n]) for n in numbers)
            total += minutes
            links = ", ".join(f"[{n.lstrip('0') or '0'}](../notebooks/{notebooks[n].name})" for n in numbers)
            graded = ", ".join(f"`{e}`" for e in exercises) or "-"
            lines.append(f"| {k}. {topic} | {links} | {minutes} min | {graded} |")
        rest = [n for n in notebooks if n not in taught]
        lines += ["", f"Study time in all: {_hours(total)}. Further reading: notebooks "
                      f"{', '.join(n.lstrip('0') or '0' for n in rest)}."]
        out.append("\n".join(lines))
    return "\n\n".join(out)


# The cheat sheet's settings: the config fields that reach an equation, with their symbol
SETTINGS = [("GRPOConfig", "prompts_per_step", "B"), ("GRPOConfig", "group_size", "G"),
            ("GRPOConfig", "num_inner_steps", "mu"), ("GRPOConfig", "clip_eps", "epsilon"),
            ("GRPOConfig", "kl_coef", "beta"), ("GRPOConfig", "adv_eps", "eps (step 3)"),
            ("GRPOConfig", "lr", "lr"), ("GRPOConfig", "temperature", "tau"),
            ("PPOConfig", "lam", "lambda"), ("PPOConfig", "gamma", "gamma"),
            ("PPOConfig", "value_clip_eps", "epsilon_v"), ("PPOConfig", "critic_lr", "critic lr")]


def settings_table() -> str:
    """The default of each setting that reaches an equation, read from the configs, with the help --help prints."""
    from dataclasses import fields

    from ... import config

    lines = ["| symbol | field | default | what it is |", "|---|---|---|---|"]
    for owner, name, symbol in SETTINGS:
        f = next(f for f in fields(getattr(config, owner)) if f.name == name)
        lines.append(f"| {symbol} | `{owner}.{name}` | {f.default} | {f.metadata['help']} |")
    return "\n".join(lines)


def blocks(results: Path = res.RESULTS, data: Path = DATA_DIR) -> dict[str, str]:
    """Every generated block of the documents, by name."""
    return {"course map": course_map(), "syllabi": syllabi(), "settings": settings_table(),
            "headline": headline(results), "run time": run_time(results),
            "loop diff": loop_diff(), "files": files_tree(), "bug zoo": bug_table(),
            "results": tables.results_table(results),
            "significance": tables.significance_table(results), "credit table": tables.credit_table(results),
            "credit tests": tables.credit_tests_table(results),
            "critic table": tables.critic_table(results),
            "credit table steps5": tables.credit_table(results, "credit_steps5"),
            "credit table steps7": tables.credit_table(results, "credit_steps7"),
            "variants": tables.variants_table(results), "reward models": reward_models_table(data),
            "reward sources": tables.reward_sources_table(results), "compute": tables.compute_table(results, data)}


def shown(text: str, name: str) -> str | None:
    """The block a document's text shows under ``name``, None where it has none."""
    found = re.search(f"<!-- {name} start -->\n(.*?)\n?<!-- {name} end -->", text, re.S)
    return found.group(1) if found else None


def holder(texts: dict[Path, str], name: str) -> Path:
    """The one document (of ``texts``, {path: text}) that shows the block ``name``."""
    holders = [path for path, text in texts.items() if shown(text, name) is not None]
    if len(holders) != 1:
        where = "no document" if not holders else "more than one document: " + ", ".join(p.name for p in holders)
        raise ValueError(f"the block '<!-- {name} start -->' ... '<!-- {name} end -->' is in {where} "
                         "(each block lives in exactly one of README.md and docs/*.md)")
    return holders[0]


def update_documents(root: Path = ROOT, results: Path = res.RESULTS, data: Path = DATA_DIR) -> list[str]:
    """Rewrite every generated block of the documents under ``root``; returns the names of those that changed."""
    texts = {path: path.read_text() for path in documents(root)}
    changed = []
    for name, block in blocks(results, data).items():
        path = holder(texts, name)
        if shown(texts[path], name) != block:
            changed.append(name)
            texts[path] = re.sub(f"<!-- {name} start -->.*?<!-- {name} end -->",
                                 lambda m, b=block, n=name: f"<!-- {n} start -->\n{b}\n<!-- {n} end -->",
                                 texts[path], flags=re.S)
    for path, text in texts.items():
        if path.read_text() != text:
            path.write_text(text)
    return changed
