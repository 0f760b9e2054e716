"""``python -m minigrpo bench``: what a GRPO step costs, printed as one table and written as bench.json.

    (a) generation throughput with and without the KV cache        generation.py
    (b) one GRPO step split into its phases                         phases.py, training.py
    (c) GRPO vs PPO at the same batch: time, memory, parameters     training.py
    (d) FLOP/s of the training pass against the matmul rate         flops.py

Everything is measured in one run on one machine, so the ratios (cache speed-up, PPO / GRPO,
fraction of the matmul rate) are what to compare across runs; absolute numbers move with the
machine and its load, which the table's first line records.
"""

from .run import run_bench
from .table import format_table, write_json

__all__ = ["run_bench", "format_table", "write_json"]
