"""The numbers the README and the book's pages state in prose, outside their generated blocks (tests/test_readme.py
holds those), each against where it comes from: a config default, a plan, a checkpoint's record, the results file,
a notebook's printed output, or the bench output the page shows. A page that drifts from its source fails here."""

import json
import math
import re
import statistics

import pytest

from minigrpo.checkpoint import load_checkpoint
from minigrpo.config import GRPOConfig, PPOConfig, TaskConfig, WarmupConfig
from minigrpo.lab.config import LabGRPOConfig, RewardModelConfig
from minigrpo.lab.experiments import readme, tables
from minigrpo.lab.experiments import results as res
from minigrpo.lab.experiments.plans import PLANS, ROUNDS, SEEDS, SKILLED_STEPS, TASKS
from minigrpo.lab.experiments.sweep import LOCALIZE
from minigrpo.lab.reward_models import train as reward_model_train
from minigrpo.lab.reward_models.model import ValueModel
from minigrpo.task import DATA_DIR, MAX_DIGITS

ROOT = readme.ROOT
CLI = (ROOT / "minigrpo" / "lab" / "cli.py").read_text()


def prose(name: str) -> str:
    """A document without its generated blocks, its whitespace collapsed so that a phrase may span lines."""
    path = ROOT / "README.md" if name == "README" else ROOT / "docs" / f"{name}.md"
    text = re.sub(r"<!-- (.+?) start -->.*?<!-- \1 end -->", "", path.read_text(), flags=re.S)
    return " ".join(text.split())


def says(name: str, *phrases: str) -> None:
    text = prose(name)
    for phrase in phrases:
        assert phrase in text, f"{name}: expected the words '{phrase}'"


def printed(notebook: str) -> str:
    """Everything a committed notebook printed, its cells' text outputs joined."""
    cells = json.loads((ROOT / "notebooks" / notebook).read_text())["cells"]
    return "\n".join("".join(out.get("text", "")) for cell in cells for out in cell.get("outputs", []))


def code(notebook: str) -> str:
    cells = json.loads((ROOT / "notebooks" / notebook).read_text())["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")


def pct(x: float, digits: int = 0) -> str:
    return f"{100 * x:.{digits}f}%"


def test_install_and_commands_match_the_pins_and_the_defaults():
    torch_pin = re.search(r"^torch==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    says("README", f"pins `torch=={torch_pin}` exactly",
         f"pip install torch=={torch_pin} --index-url https://download.pytorch.org/whl/cpu")
    says("commands", f"pins `torch=={torch_pin}` exactly", f"pip install torch=={torch_pin} --index-url "
         "https://download.pytorch.org/whl/cu128")
    says("README", "the CUDA 12.8 index (`https://download.pytorch.org/whl/cu128`)")
    python = re.search(r'requires-python = ">=(\S+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    says("README", f"Python {python} or later")
    says("results", f"torch {torch_pin} CPU build with 2 threads")
    says("commands", f"train the Results' runs ({len(SEEDS['credit'])} seeds) and the variants table's "
         f"({len(SEEDS['variants'])} seeds)")
    save_every = re.search(r'"--save-every", type=int, default=(\d+)', CLI).group(1)
    says("commands", f"every `--save-every` steps (default {save_every})")


def test_the_task_page_states_the_task_configs_defaults():
    cfg = TaskConfig()
    assert cfg.digits == 1 and cfg.operators == "+-"
    says("task", "A problem is a chain of one-digit numbers joined by `+` and `-`",
         f"({cfg.n_train:,} train, {cfg.n_test} test, disjoint)", f"`python -m minigrpo data` (seed {cfg.seed})")


def test_the_conventions_state_the_config_defaults():
    grpo, ppo = GRPOConfig(), PPOConfig()
    says("conventions", f"`adv_eps` = {grpo.adv_eps:.0e}".replace("e-04", "e-4"),
         f"`kl_coef` = {grpo.kl_coef}, `kl_estimator` = `{LabGRPOConfig().kl_estimator}`",
         f"`num_inner_steps` = {grpo.num_inner_steps}", f"`temperature` = {grpo.temperature}",
         f"`aggregation` = `{LabGRPOConfig().aggregation}`", f"| `kl_coef` = {ppo.kl_coef} |",
         f"`critic_lr` = {ppo.critic_lr:.0e}".replace("e-03", "e-3"),
         f"GAE, gamma = {ppo.gamma:g}, lambda = {ppo.lam}", f"`value_clip_eps` = {ppo.value_clip_eps}",
         f"1 to {MAX_DIGITS} ASCII digits (`task.MAX_DIGITS`)", f"{MAX_DIGITS} is the most digits",
         f"DeepSeekMath's and minigrpo's is {grpo.kl_coef}", f"on the {TaskConfig().n_test} test problems")
    largest = int("9" * 4) ** 8  # TaskConfig allows 4 digits and 8 operands: the product of the largest numbers
    assert len(str(largest)) <= MAX_DIGITS < len(str(largest)) + 2
    with pytest.raises(ValueError):
        TaskConfig(num_operands=9)
    with pytest.raises(ValueError):
        TaskConfig(digits=5)


def test_a_masked_mean_over_no_tokens_is_zero_as_the_conventions_say():
    import torch

    from minigrpo.masked import completion_mean, token_mean, whiten
    none = torch.zeros(1, 3, dtype=torch.bool)
    assert completion_mean(torch.ones(1, 3), none).item() == 0.0 and token_mean(torch.ones(1, 3), none).item() == 0.0
    assert torch.isnan(torch.ones(1, 3)[none].sum() / none.sum())  # a plain sum / count: 0 / 0
    with pytest.raises(ValueError, match="at least two real tokens"):
        whiten(torch.ones(1, 3), torch.tensor([[True, False, False]]))
    says("conventions", "| a masked mean over no tokens | 0: the count is clamped to 1",
         "`whiten` refuses fewer than two tokens", "gives 0 / 0 = NaN")


def test_the_results_setup_matches_the_records_and_the_config():
    cfg = GRPOConfig()
    records = [r for seeds in res.plan_runs("credit").values() for r in seeds.values()]
    assert records and all(r["accuracy"][-1]["step"] == cfg.steps for r in records)
    evaluations = cfg.steps // cfg.eval_every + 1
    assert all(len(r["accuracy"]) == evaluations for r in records)
    n = records[0]["final_eval"]["n"]
    standard_error = math.sqrt(0.5 * 0.5 / n)  # the largest a proportion's can be
    says("results", f"Each run is {cfg.steps} steps of the default batch ({cfg.prompts_per_step} prompts × G = "
         f"{cfg.group_size} completions)", f"Greedy accuracy is on the {n} held-out problems",
         f"a standard error of about {round(100 * standard_error)} points", f"the evaluation at step {cfg.steps}",
         f"best of the {evaluations} evaluations (steps 0, {cfg.eval_every}, ..., {cfg.steps}",
         "pass@k, from 8 samples per problem at temperature 1",
         f"seed 0 of all first, then seeds {ROUNDS[1][0]}-{ROUNDS[1][-1]}, then {ROUNDS[2][0]}-{ROUNDS[2][-1]}",
         f"(all {cfg.group_size} answers right or all wrong)",
         f"sample the same {cfg.prompts_per_step} × {cfg.group_size} completions", f"lambda = {PPOConfig().lam}")
    assert {k for r in records for k in r["final_eval"] if k.startswith("pass@")} == {"pass@1", "pass@4", "pass@8"}
    warm = res.plan_runs("warm_start")["warmup"]["0"]
    assert warm["final_eval"]["pass@8"] > res.final_accuracy(warm)  # it solves in 8 tries some it fails greedily
    says("results", "The warm start already solves some problems in one of 8 tries that it fails greedily")


def test_the_reward_model_page_states_where_each_ece_was_measured():
    cfg = RewardModelConfig()
    _, orm = load_checkpoint(DATA_DIR / "orm.pt", build=ValueModel)
    assert orm["heldout"]["positions"] == cfg.heldout_prompts * cfg.samples_per_prompt  # one position per completion
    says("reward_sources", f"the first {cfg.heldout_prompts} prompts of the test split (`--heldout-prompts`), "
         f"{cfg.samples_per_prompt} each (`--samples-per-prompt`)")
    assert 'label_completions(warm, test[200:500], meta["kind"], 2,' in code("12_reward_sources.ipynb")
    says("reward_sources", "2 each of the next 300 prompts of the test split (prompts 200 to 499)",
         f"spread over {reward_model_train.BINS} bins")
    says("reward_sources", f"{GRPOConfig().steps} steps from the same warm start with seed 0",
         "both are the mean of the last 10 steps")
    assert "last 10 steps" in tables.reward_sources_table()
    zero_spread = statistics.mean(r["mean"]["zero_spread_frac"] for r in res.plan_runs("credit")["grpo_outcome"]
                                  .values())
    assert 0.4 < zero_spread < 0.6
    says("reward_sources", "where the verifier leaves about half of the groups without any signal")


def test_the_credit_page_states_the_plans_and_the_localization_settings():
    says("credit", "between steps of 384 completions")
    assert "384 completions" in printed("08b_does_the_critic_localize.ipynb")
    assert "K = 16 continuations each" in printed("08b_does_the_critic_localize.ipynb")
    says("credit", "(K = 16)", "the critic against the mean of 8 sampled rewards")
    for flag, value in (("problems", 48), ("samples", 8), ("K", 16)):
        assert re.search(rf'"--{flag}", type=int, default={value},', CLI), flag
    says("credit", "(48 held-out problems, 8 samples each, K = 16 by default; a sweep's final evaluation takes "
         f"{LOCALIZE[LOCALIZE.index('--problems') + 1]} problems")
    says("credit", f"the default warm-up run to {SKILLED_STEPS} steps", f"trains each method for {GRPOConfig().steps} "
         "steps", "adds p = " + ", ".join(name.removeprefix("grpo_process_noise")
                                        for name in PLANS["step_label_noise"]) + ".")
    says("credit", f"The same methods on {TASKS['steps5'].num_operands - 1} and {TASKS['steps7'].num_operands - 1} "
         f"steps (`data/steps5`, `data/steps7`: {TASKS['steps5'].num_operands} and {TASKS['steps7'].num_operands} "
         "operands)", f"The default recipe's {WarmupConfig().steps} warm-up steps",
         f"({TASKS['steps5'].warmup_steps} and {TASKS['steps7'].warmup_steps} steps, in multiples of 25)")
    assert TASKS["steps5"].warmup_steps % 25 == 0 and TASKS["steps7"].warmup_steps % 25 == 0
    assert TASKS["steps3"].warmup_steps == WarmupConfig().steps
    cfg = GRPOConfig()
    gains = [round(100 * g) for g in tables.GAINS]
    says("credit", f"(every {cfg.eval_every} steps to {cfg.steps}:", f"At step {cfg.steps} every method",
         f"warm start's accuracy + {gains[0]} and + {gains[1]} points", f"warm start + {gains[0]} and + {gains[1]} "
         "points")


def test_the_credit_page_reads_the_family_of_tests_as_the_results_say():
    """'process supervision learns fastest on the 3-step task, and its lead on the primary metric is significant
    alone but not after the correction'."""
    tests = [t for t in tables.credit_tests() if t["plan"] == "credit"]

    def best(metric: str, sign: int) -> dict:
        return max((t for t in tests if t["metric"].startswith(metric)), key=lambda t: sign * t["difference"])

    primary = best("mean accuracy over training", 1)
    assert primary["method"] == "grpo_process" and primary["difference"] > 0
    assert primary["p"] < 0.05 <= primary["holm"]
    for target in ("steps to +10", "steps to +20"):
        assert best(target, -1)["method"] == "grpo_process" and best(target, -1)["difference"] < 0
    says("credit", "process supervision learns fastest on the 3-step task, and its lead on the primary metric is "
         "significant alone but not after the correction")


def test_the_variants_page_states_the_plan_and_notebook_10s_ratios():
    plan = PLANS["variants"]
    flags = {name: " ".join(args) for name, (_, args) in plan.items()}
    assert all(f.startswith("--steps 150 --eval-every 50") for f in flags.values())
    cfg = GRPOConfig()
    says("variants", "150 steps of each", f"default batch ({cfg.prompts_per_step} × {cfg.group_size}), "
         f"{len(SEEDS['variants'])} seeds", "evaluations 50 steps apart")
    assert "--num-inner-steps 2" in flags["gspo_mu2"] and "--clip-eps 0.02" in flags["gspo_mu2"]
    assert "--reward-weights correct=1,format=0.5,length=0.5" in flags["sum3"]
    assert "--ref-reset-every 50" in flags["iterative"]
    says("variants", "measured with `--num-inner-steps 2`", "weigh correct = 1, format = 0.5, length = 0.5",
         "resets the reference every 50 steps")
    out = printed("10_grpo_variants.ipynb")
    seq = [float(x) for x in re.search(r"\|s_i - 1\|\s+median, 90%, 99%: \['([\d.]+)', '([\d.]+)', '([\d.]+)'\]",
                                        out).groups()]
    clipped = {name: float(v) for name, v in re.findall(r"clipped tokens, (.+?)\s*: ([\d.]+)", out)}
    says("variants", f"|s_i − 1| is {pct(seq[0], 1)} at the median, {pct(seq[1], 1)} at the 90th percentile and "
         f"{pct(seq[2])} at the 99th", f"clips {pct(clipped['sequence, 3e-4 / 4e-4'])} of the tokens there",
         f"against {pct(clipped['sequence, 0.02'])} at 0.02 and {pct(clipped['token, eps 0.2'])} for the "
         "token-level clip at 0.2")


def bench_output() -> str:
    text = (ROOT / "docs" / "performance.md").read_text()
    return re.search(r"```\n(minigrpo bench on .*?)```", text, re.S).group(1)


def bench_rows() -> dict[str, list[str]]:
    rows = {}
    for line in bench_output().splitlines():
        if line.startswith("|") and not line.startswith("|--"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows.setdefault(cells[0], cells[1:])
    return rows


def test_the_performance_page_reads_its_own_bench_output():
    out, rows = bench_output(), bench_rows()
    load = re.search(r"load average ([\d.]+) at the start", out).group(1)
    says("performance", f"hence the load average of {load} at its start")
    says("performance", f"KV cache: {rows['32 prompts x G = 8'][-1]}** more completion tokens per second at the "
         f"default batch, {rows['32 prompts x G = 16'][-1]} at G = 16")
    share = {name: rows[name][1] for name in ("sampling B x G completions (step 1)", "reference log-probs (for step 5)",
                                              "policy forward and backward (steps 4-6)")}
    says("performance", f"sampling {share['sampling B x G completions (step 1)']}, the policy's forward and backward "
         f"{share['policy forward and backward (steps 4-6)']}, the reference model's forward (for the KL) "
         f"{share['reference log-probs (for step 5)']}")
    whole = re.search(r"--fast takes ([\d.]+) of today's time", out).group(1)
    says("performance", f"{whole} of the default path's time per whole step", f"takes {whole} of the default path's "
         f"time per step (table (b)): about {1 / float(whole):.1f}x faster")
    c = {name: rows[name] for name in ("seconds per step", "peak process memory (MiB)",
                                       "parameters held (policy + reference + critic)")}
    says("performance", f"PPO holds **{c['parameters held (policy + reference + critic)'][3]}x** GRPO's parameters",
         f"{c['peak process memory (MiB)'][3]}x its peak process memory", f"its time per step is "
         f"{c['seconds per step'][3]}x GRPO's in this run", f"its memory {c['peak process memory (MiB)'][4]}x",
         f"{c['seconds per step'][4]}x GRPO's time per step here")
    assert "PPO / GRPO in FLOPs: 1.80x" in printed("08_critic_vs_group_baseline.ipynb")
    says("performance", "notebook 8 counts the FLOPs: 1.80x")
    d = {name: rows[name] for name in ("sampling B x G completions", "reference log-probs (a forward pass)",
                                       "policy forward and backward")}
    says("performance", f"the training forward and backward reaches {d['policy forward and backward'][5]}",
         f"the reference's forward {d['reference log-probs (a forward pass)'][5]}",
         f"sampling {d['sampling B x G completions'][5]}: one new position",
         f"run at {d['reference log-probs (a forward pass)'][6]} (the reference's forward) and "
         f"{d['policy forward and backward'][6]} (forward and backward)",
         f"sampling, at {d['sampling B x G completions'][6]}, is where")
    flops = {name: float(r[1]) / float(r[0]) for name, r in d.items()}
    says("performance", f"`--fast` computes {flops['sampling B x G completions']:.2f}x the FLOPs of sampling, "
         f"{flops['reference log-probs (a forward pass)']:.2f}x of the reference's forward and "
         f"{flops['policy forward and backward']:.2f}x of the forward and backward")
    floor = re.search(r"([\d.]+) ms at the matmul rate; half of today's step \(c\) is ([\d.]+) ms, so twice as fast "
                      r"needs the whole step at ([\d.]+%) of the matmul rate", out).groups()
    says("performance", f"take {floor[0]} ms at the full matmul rate, and half of the default path's step is "
         f"{floor[1]} ms", f"runs at {floor[2]} of the matmul rate or more", f"at {floor[2]} of the matmul rate: more "
         "than any phase")
    from minigrpo.config import ModelConfig
    positions = re.search(r"(\d+) positions at most", out).group(1)
    says("performance", f"(d = {ModelConfig().n_embd}, sequences of {positions} positions)")


def test_the_course_page_names_the_notebooks_by_what_their_code_does():
    def numbers(predicate) -> str:
        names = [p.stem.split("_")[0].lstrip("0") or "0" for p in readme.notebooks() if predicate(code(p.name))]
        return ", ".join(names[:-1]) + " and " + names[-1]

    live = numbers(lambda c: re.search(r"\btrain_(grpo|ppo|lab)\(", c) is not None)
    reads = numbers(lambda c: "plan_runs(" in c)
    says("course", f"The live training runs in notebooks {live} are short", f"Notebooks {reads} read full-length runs")
    assert "steps=30" in code("01_big_picture.ipynb")
    says("course", "a 30-step live GRPO run")
    assert readme.title(ROOT / "notebooks" / "11_bug_zoo.ipynb").startswith("The bug zoo: five published mistakes")
    says("course", "| five published mistakes (")


def test_the_layout_bound_the_algorithm_page_states_is_the_tests():
    assert "assert len(changed) < 40" in (ROOT / "tests" / "test_layout.py").read_text()
    says("algorithm", "holds the two functions' bodies to under 40 differing code lines")


@pytest.mark.parametrize("phrase", ["issue #", "used to", "today's code", "no longer the", "~200 MB"])
def test_no_page_tells_the_projects_history(phrase):
    for name in ["README", *(p.stem for p in sorted((ROOT / "docs").glob("*.md")))]:
        assert phrase not in prose(name), f"{name}: '{phrase}'"


def test_the_numbers_that_describe_tests_and_code_match_them():
    def source(path: str) -> str:
        return (ROOT / path).read_text()

    steps = [task.num_operands - 1 for task in TASKS.values()]
    says("README", f"learning speed on {steps[0]}, {steps[1]} and {steps[2]} steps")
    assert "rtol=1e-12" in source("tests/test_variants.py")
    says("variants", "to a relative 1e-12 on the same tensors")
    assert "--clip-eps-high 0.28" in " ".join(PLANS["variants"]["clip_higher_mu2"][1])
    says("variants", "`--clip-eps-high 0.28`")
    assert "atol=1e-10" in source("tests/test_fast.py")
    from minigrpo.lab.scale import fast
    assert fast.BUCKETS == 4
    says("performance", "(to 1e-10 in float64)", "at most four buckets")
    assert "float32 torch.mm, 1024 x 1024" in bench_output()
    says("performance", "of a 1024 × 1024 float32 matrix multiply")
    assert "return 2 if isinstance(err, ValueError) else 130 if isinstance(err, KeyboardInterrupt) else 1" in CLI
    says("reliability", "the exit code is 2 for bad input, 1 for a file system error (any `OSError`) or a diverged "
         "run, 130 for Ctrl-C")
    assert 'ids=["2 even", "3 uneven"]' in source("tests/test_distributed_normalizers.py")
    assert '"--steps", "3"' in source("tests/test_distributed.py")
    says("data_parallel", "plays 2 and 3 processes in one", "runs torchrun with 1 and 2 processes for 3 steps")


@pytest.mark.parametrize("notebook", sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")))
def test_each_notebook_opens_with_what_it_teaches_what_it_needs_and_its_study_time(notebook):
    path = ROOT / "notebooks" / notebook
    first = "".join(json.loads(path.read_text())["cells"][0]["source"]).split("\n")
    assert first[0].startswith("# ") and first[1] == "", f"{notebook}: the title, then a blank line"
    header = first[2]
    assert header.startswith("**You will learn** ") and " · **You need** " in header, f"{notebook}: {header!r}"
    assert header.endswith(f" · **About {readme.study_minutes(path)} minutes**"), (
        f"{notebook}: its header's study time must be the course map's, {readme.study_minutes(path)} minutes")


def test_the_credit_page_says_no_critic_recipe_reaches_half_only_while_none_does():
    runs = res.plan_runs("critic", res.RESULTS)
    shares = [at["fraction"] for seeds in runs.values() for record in seeds.values()
              for j, at in ((record.get("final_eval") or {}).get("localization") or {}).items()
              if int(j) <= 3 and at["fraction"] == at["fraction"]]  # the steps before the answer; nan: no drop
    assert shares, "the critic plan has no localization record"
    says("credit", "no recipe trained so far brings the critic to half of V_MC's drop at any step index before the "
         "answer")
    assert max(shares) < 0.5, "a critic recipe reaches half of V_MC's drop: the credit page must say so"


def test_the_zoo_effects_paragraph_states_the_settings_and_the_clip_bugs_at_one_inner_step():
    from minigrpo.lab.bugzoo import effects

    temperature = effects.SETTINGS["grpo T=0.7"].flags[effects.SETTINGS["grpo T=0.7"].flags.index("--temperature") + 1]
    says("course", f"a temperature of {temperature}", "at one and at two inner steps per batch")
    assert sorted({r["mu"] for r in json.loads(effects.RESULTS.read_text())["runs"].values()}) == [1, 2]
    measured = json.loads(effects.RESULTS.read_text())["runs"]
    for name in ("clip-min-of-ratios", "clip-without-min", "clip-with-max"):
        run, base = (next(r for r in measured.values() if (r["bug"], r["setting"], r["mu"]) == (bug, "grpo", 1))
                     for bug in (name, None))
        assert run["accuracy"] == base["accuracy"] and run["kl"] == base["kl"], name  # bit for bit: same numbers
    says("course", "At one inner step each of the clip's bugs trains bit for bit as the package does")
