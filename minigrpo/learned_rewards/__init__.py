"""Learned reward models, trained from the warm start's own completions (``python -m minigrpo reward-model``).

    labels.py   sample completions, label them: the verifier's verdict (outcome), or continuations
                sampled after each step (process, Math-Shepherd's automatic labels)
    train.py    train the classifier of ``reward_model.py`` on them; measure it against the exact verifier

GRPO then optimizes the model's scores instead of the verifier's (``grpo --reward-model PATH``, step 2 in
``grpo/step2_reward_model.py``), and logs both, so that a policy that learns to please the model without
getting more answers right shows up as a gap between them.

Nothing is imported here: the command line imports ``cli.py`` to register the command, without torch.
"""
