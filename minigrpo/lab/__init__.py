"""The lab: everything people add to the lesson. The lesson (the package root, ``grpo/`` and ``ppo/``) is the paper
and the textbook and never imports from here; the lab imports the lesson and runs it.

    config.py        LabGRPOConfig and LabPPOConfig (the paper's configs plus every switch), RewardModelConfig,
                     BenchConfig
    loop.py          the switchable loop: the switches resolved once into the function each step calls; at the
                     defaults it is the paper's loop bit for bit (tests/test_lab_loop.py); resuming; torchrun
    variants/        what came after the paper: RLOO, batch or no std, DAPO, Dr. GRPO, clip-higher, GSPO, GDPO,
                     other KL estimators, the random-reward control (variants.py); VinePPO's sampled step values,
                     process advantages at outcome size, noisy step labels (credit.py)
    reward_models/   learned reward models: the critic's network read as a logit, labels, training, scoring a group
    scale/           the same numbers from less work: the fast path (fast.py) and data-parallel torchrun (world.py,
                     sampling.py, normalizers.py)
    runs.py          a run folder: its config, what its numbers depend on beyond it, the checkpoint, resuming
    cli.py           the command line (``python -m minigrpo``)
    bench/           what a step costs
    experiments/     the sweep plans, the results file, the generated tables, the reproduce command
    viz/             figures
    bugzoo/          real published mistakes, planted one at a time, each caught by a test; one hidden for a
                     student to hunt; what each does to training
    exercises/       templates of the steps and two assignments (the loop, the log-probs) for students, copied to
                     runs/exercises and graded there by the package's tests
"""
