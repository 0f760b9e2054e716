"""Past one process: what data-parallel training must share between processes, and nothing else.

The single-process loop is the lesson; this package holds what changes when R processes each train on 1/R of the
prompts and average their gradients (normalizers.py: which denominators of the loss span the whole batch).
"""
