"""The sweep plans, written once: the methods of each plan, and the seeds a reproduction trains of it.

``sweep`` (sweep.py) trains a plan's methods over its seeds, ``reproduce`` (reproduce.py) every plan in
``schedule()``'s order, the compute table (tables.py, in docs/results.md) prices that schedule, and the Makefile's
``sweep`` and ``variants`` targets name plans, whose seeds come from here.
"""

from __future__ import annotations

from dataclasses import dataclass

# plan -> {name: (command, flags)}. A run's name and flags are its key and record in data/results.json; the order is
# the order runs are trained, seed after seed.
PLANS = {
    "credit": {
        "grpo_outcome": ("grpo", []),
        "grpo_process": ("grpo", ["--supervision", "process"]),
        "ppo": ("ppo", []),
        "vineppo": ("grpo", ["--supervision", "monte_carlo"]),
        "grpo_process_mean": ("grpo", ["--supervision", "process", "--process-scale", "mean"]),
    },
    "step_label_noise": {
        f"grpo_process_noise{p}": ("grpo", ["--supervision", "process", "--step-label-noise", str(p)])
        for p in (0.1, 0.2, 0.3)
    },
    # GRPO on learned reward models; the verifiers they stand in for are the credit plan's grpo_outcome and
    # grpo_process, a verifier that errs is step_label_noise's. {data} is the data folder of the sweep.
    "reward_models": {
        "grpo_orm": ("grpo", ["--reward-model", "{data}/orm.pt"]),
        "grpo_prm": ("grpo", ["--supervision", "process", "--reward-model", "{data}/prm.pt"]),
    },
    # the paper's k3 is the credit plan's grpo_outcome
    "kl_estimators": {f"kl_{name}": ("grpo", ["--kl-estimator", name]) for name in ("k2", "k3_ratio", "k1_reward")},
    # what a run learns without the task's signal (Shao et al. 2025, "Spurious Rewards"): a coin flip for a reward,
    # and a reward for the format only, which the warm start already nearly always gets right
    "controls": {
        "random_reward": ("grpo", ["--random-reward", "0.5"]),
        "format_only": ("grpo", ["--reward-weights", "format=1"]),
    },
    # what makes PPO's critic localize a slip (python -m minigrpo localize, run on each one's critic): what V
    # learns from, one change at a time, then together; a critic body that can do the arithmetic (the default
    # warm-up run to SKILLED_STEPS, made by reproduce); and a critic asked for values only between steps
    "critic": {
        "ppo": ("ppo", []),
        "ppo_mc_targets": ("ppo", ["--value-target", "monte_carlo"]),
        "ppo_value_epochs4": ("ppo", ["--value-epochs", "4"]),
        "ppo_critic_lr3e-3": ("ppo", ["--critic-lr", "3e-3"]),
        "ppo_fresh_critic": ("ppo", ["--critic-init", "fresh"]),
        "ppo_pretrained": ("ppo", ["--critic-pretrain-steps", "200", "--value-target", "monte_carlo"]),
        "ppo_vc": ("ppo", ["--critic-pretrain-steps", "200", "--value-target", "monte_carlo", "--value-epochs", "4"]),
        "ppo_skilled_critic": ("ppo", ["--critic-init", "{data}/skilled_warmstart.pt"]),
        "ppo_step_critic": ("ppo", ["--critic-states", "steps"]),
    },
    # the variants table (docs/variants.md): 150 steps each from the same warm start
    "variants": {name: ("grpo", ["--steps", "150", "--eval-every", "50", *flags]) for name, flags in {
        "grpo": [],
        "dapo": ["--aggregation", "dapo"],
        "dr_grpo": ["--aggregation", "dr_grpo", "--adv-scale", "none"],
        "batch_std": ["--adv-scale", "batch"],
        "rloo": ["--baseline", "leave_one_out"],
        "grpo_mu2": ["--num-inner-steps", "2"],
        "clip_higher_mu2": ["--num-inner-steps", "2", "--clip-eps-high", "0.28"],
        "gspo_mu2": ["--num-inner-steps", "2", "--ratio-level", "sequence", "--clip-eps", "0.02"],
        "sum3": ["--reward-weights", "correct=1,format=0.5,length=0.5"],
        "gdpo3": ["--reward-weights", "correct=1,format=0.5,length=0.5", "--multi-reward-norm", "gdpo"],
        "iterative": ["--ref-reset-every", "50"],
    }.items()},
}

# The difficulty axis: the credit plan's methods on longer chains, 5 and 7 steps instead of 3. Each task has its
# folder under data/ (its splits, ``python -m minigrpo data --num-operands 6 --out data/steps5``, and its warm
# start, made by ``warmup`` in a longer block); a completion may be as long as the task's longest worked solution
# plus 2 tokens, as the default task's 32 are. The default recipe's 300 warm-up steps leave the longer tasks with
# almost no right answers (a reproduction trains those too, for the Results table); their warm starts train
# until they start where the default one does: the multiple of 25 steps whose greedy held-out accuracy came
# closest to the default warm start's 0.452, measured once on an AMD EPYC (5 steps: 0.454 at 625; 7 steps: 0.442
# at 700, 0.518 at 725). So every task starts with about as many right answers per group, and the tasks differ
# in how many steps one outcome advantage has to cover.
@dataclass(frozen=True)
class Task:
    folder: str  # under data/; "" is data/ itself
    num_operands: int
    max_new_tokens: int
    block_size: int
    warmup_steps: int  # the warm start's optimizer steps


SKILLED_STEPS = 1500  # warm-up steps of data/skilled_warmstart.pt (greedy accuracy 0.926 on an AMD EPYC)
TASKS = {"steps3": Task("", 4, 32, 64, 300), "steps5": Task("steps5", 6, 52, 96, 625),
         "steps7": Task("steps7", 8, 72, 96, 700)}
PLAN_TASKS = {"credit_steps5": "steps5", "credit_steps7": "steps7"}  # every other plan trains on steps3
# These sweeps run the fast path, whose tokens, log-probs and gradients are the default path's to float rounding
# (tests/test_fast.py); each record's config says which path trained it.
for plan, name in PLAN_TASKS.items():
    PLANS[plan] = {method: (command, [*flags, "--max-new-tokens", str(TASKS[name].max_new_tokens), "--fast"])
                   for method, (command, flags) in PLANS["credit"].items()
                   if method in ("grpo_outcome", "grpo_process", "ppo", "vineppo")}


def task_of(plan: str) -> Task:
    """The task a plan trains on."""
    return TASKS[PLAN_TASKS.get(plan, "steps3")]


# plan -> the RL seeds a reproduction trains (and ``sweep PLAN`` without --seeds): the Results' runs over 5 seeds,
# the variants table's over 3, the rest one seed each. Listed in the order a round trains them.
SEEDS = {
    "credit": [0, 1, 2, 3, 4],
    "reward_models": [0, 1, 2, 3, 4],
    "controls": [0, 1, 2, 3, 4],
    "kl_estimators": [0],
    "step_label_noise": [0],
    "variants": [0, 1, 2],
    "critic": [0],
    "credit_steps5": [0, 1, 2, 3, 4],
    "credit_steps7": [0, 1, 2, 3, 4],
}

# reproduce trains seed 0 of every plan first, then seeds 1 and 2, then 3 and 4: a reproduction stopped early still
# covers every table
ROUNDS = ([0], [1, 2], [3, 4])


def schedule() -> list[tuple[str, list[int]]]:
    """(plan, seeds) in the order a reproduction trains them: ``SEEDS`` cut into ``ROUNDS``."""
    return [(plan, [s for s in seeds if s in round_]) for round_ in ROUNDS for plan, seeds in SEEDS.items()
            if any(s in round_ for s in seeds)]
