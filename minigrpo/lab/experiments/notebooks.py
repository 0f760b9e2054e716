"""Execute a notebook in place, as a reader would run it, and keep only what a reader needs in the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def clean(path: Path) -> None:
    """Drop what changes on every execution without telling a reader anything (timestamps of cells, widget
    state), and write the file as Jupyter does (one-space indent, UTF-8, a final newline)."""
    notebook = json.loads(Path(path).read_text())
    notebook["metadata"].pop("widgets", None)
    for cell in notebook["cells"]:
        cell.get("metadata", {}).pop("execution", None)
    Path(path).write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


def execute(path: Path, figures: Path, timeout_s: int = 1800) -> None:
    """``jupyter nbconvert --execute --inplace`` in the notebook's folder, its figures written to ``figures``
    (notebooks read MINIGRPO_FIGURES; without it they draw into a scratch folder), then ``clean``."""
    path = Path(path).resolve()
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace",
                    f"--ExecutePreprocessor.timeout={timeout_s}", path.name], cwd=path.parent, check=True,
                   env={**os.environ, "MINIGRPO_FIGURES": str(Path(figures).resolve())})
    clean(path)
