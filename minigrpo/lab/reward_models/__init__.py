"""Learned reward models, trained from the warm start's own completions (``python -m minigrpo reward-model``).

    model.py    the classifier (the critic's value-head GPT), where it reads a score, its loss; and
                ``load_reward_model``, the frozen one ``grpo --reward-model PATH`` scores with
    labels.py   sample completions, label them: the verifier's verdict (outcome), or continuations
                sampled after each step (process, Math-Shepherd's automatic labels)
    train.py    train the classifier of ``model.py`` on them; measure it against the exact verifier
    scores.py   step 2 with a learned model: its scores in place of the verifier's rewards

GRPO then optimizes the model's scores instead of the verifier's (``grpo --reward-model PATH``), and logs both,
so that a policy that learns to please the model without getting more answers right shows up as a gap between them.

Nothing is imported here, so that the command line's ``--help`` loads no torch.
"""
