"""Pictures of runs and of per-token credit; nothing here is imported by the algorithm.

    plots.py          learning curves, GRPO vs PPO, accuracy against time, token-credit strips
    token_credit.py   four kinds of per-token credit on the same completions (GRPO outcome / process, critic, GAE)
    figures.py        ``python -m minigrpo figures``: the book's figures from run folders
"""
