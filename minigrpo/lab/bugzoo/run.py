"""Plant each catalogued bug in a temporary copy of the package and run the tests that should catch it.

    for each bug:  copy minigrpo/, tests/ and pyproject.toml to a temporary root (data/ linked, read-only)
                   replace bug.old by bug.new in the copy (old must occur exactly once: else the entry is stale)
                   python -m pytest -x <bug.tests>, in the copy, with PYTHONPATH at the copy's root
    caught: a listed test fails;  survived: they all pass;  error: they could not run (a mutation that breaks
    an import is not a catch)

PYTHONPATH puts the copy ahead of the editable install (whose finder comes after the path entries), and each
run checks that ``import minigrpo`` really resolves to the copy before trusting a pass.
"""

from __future__ import annotations

import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .catalogue import BUGS, Bug

ROOT = Path(__file__).resolve().parents[3]  # the repository: minigrpo/, tests/, data/
TIMEOUT_S = 600  # per bug; the slowest listed test takes seconds, so this only stops a hang


class StaleBug(ValueError):
    """A catalogue entry whose ``old`` text is not in the current source exactly once, or that changes nothing."""


@dataclass
class Outcome:
    bug: Bug
    status: str  # caught, survived, error, or planted (quick: the mutation applies and compiles; no tests run)
    caught_by: str  # the first failing test's node id, or what went wrong
    seconds: float


def check_entry(bug: Bug, root: Path = ROOT) -> None:
    """The mutation applies to ``root``'s package exactly once and changes it; its source and tests exist."""
    path = root / "minigrpo" / bug.file
    count = path.read_text().count(bug.old) if path.is_file() else 0
    if count != 1 or bug.old == bug.new:
        raise StaleBug(f"bug {bug.name!r}: its old text occurs {count} times in minigrpo/{bug.file} (must be "
                       "exactly once, and differ from the new text); update the entry to the current code")
    if not bug.source.startswith("https://github.com/"):
        raise StaleBug(f"bug {bug.name!r}: its source must be the URL of a public issue or pull request")
    missing = [t for t in bug.tests if not (root / t.split("::")[0]).is_file()]
    if not bug.tests or missing:
        raise StaleBug(f"bug {bug.name!r}: needs tests that exist, missing {missing or 'all'}")


def plant(bug: Bug, root: Path) -> None:
    """Apply the mutation to the copy of the package under ``root``."""
    check_entry(bug, root)
    path = root / "minigrpo" / bug.file
    path.write_text(path.read_text().replace(bug.old, bug.new))


def copy_package(dest: Path) -> None:
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "minigrpo", dest / "minigrpo", ignore=skip)
    shutil.copytree(ROOT / "tests", dest / "tests", ignore=skip)
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    (dest / "data").symlink_to(ROOT / "data", target_is_directory=True)  # task.DATA_DIR: next to the package


# What copy_repository leaves out: git's own folder, the environment, run outputs, the data (linked instead), caches
# and built files, none of which the tests read as code.
NOT_COPIED = (".git", ".venv", "runs", "data", "__pycache__", "*.pyc", ".*_cache", ".hypothesis", "*.egg-info",
              ".ipynb_checkpoints", "_build")


def copy_repository(dest: Path) -> None:
    """``copy_package`` and every other file of the checkout (README.md, docs/, notebooks/, the Makefile, ...), so
    that the whole test suite runs in the copy as it does in the repository."""
    copy_package(dest)
    skip = shutil.ignore_patterns(*NOT_COPIED)
    for entry in sorted(ROOT.iterdir()):
        if (dest / entry.name).exists() or skip(str(ROOT), [entry.name]):
            continue
        if entry.is_dir():
            shutil.copytree(entry, dest / entry.name, ignore=skip)
        else:
            shutil.copy2(entry, dest / entry.name)


def imported_from(root: Path) -> str:
    """Where ``import minigrpo`` resolves with PYTHONPATH at ``root`` (a copy): the file, or the error's end."""
    where = subprocess.run([sys.executable, "-c", "import minigrpo; print(minigrpo.__file__)"], cwd=root,
                           env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True)
    return where.stdout.strip() or where.stderr[-200:]


def first_failure(output: str) -> str:
    """The node id of the first FAILED or ERROR line of pytest's short summary (``-rfE``)."""
    found = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.MULTILINE)
    return found.group(1) if found else "?"


def run_bug(bug: Bug, quick: bool = False) -> Outcome:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"bugzoo-{bug.name}-") as tmp:
        root = Path(tmp)
        copy_package(root)
        plant(bug, root)
        if quick:
            py_compile.compile(str(root / "minigrpo" / bug.file), doraise=True)
            return Outcome(bug, "planted", "-", time.perf_counter() - start)
        env = {**os.environ, "PYTHONPATH": str(root)}
        where = imported_from(root)
        if not where.startswith(str(root)):  # the tests would run on the unmutated install
            return Outcome(bug, "error", f"minigrpo imported from {where}", time.perf_counter() - start)
        # --color=no: under Jupyter pytest colours its summary, and the escape codes hide the FAILED lines
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-rfE",
                               "--color=no", *bug.tests], cwd=root, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT_S)
    seconds = time.perf_counter() - start
    if proc.returncode == 0:
        return Outcome(bug, "survived", "-", seconds)
    if proc.returncode == 1:
        return Outcome(bug, "caught", first_failure(proc.stdout), seconds)
    last = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
    return Outcome(bug, "error", f"pytest exit {proc.returncode}: {last[0]}", seconds)


def select(names: list[str] | None) -> list[Bug]:
    if not names:
        return list(BUGS)
    known = {bug.name: bug for bug in BUGS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown bug(s) {unknown}; the catalogue has {sorted(known)}")
    return [known[n] for n in names]


def format_catalogue(names: list[str] | None = None) -> str:
    """One block per bug: name, the file it plants into, source, the tests that should catch it, what it does."""
    return "\n\n".join(f"{b.name}  (minigrpo/{b.file})\n  source: {b.source}\n  tests:  {', '.join(b.tests)}\n"
                       f"  {b.description}" for b in select(names))


def run_zoo(names: list[str] | None = None, quick: bool = False, out=print) -> int:
    """Plant each bug (all, or those named) and run its tests; print a table. 0 if every bug is caught, else 1.

    ``quick`` only plants and compiles each mutation, running no tests: a check that the catalogue is current.
    A stale entry raises ``StaleBug`` before anything runs.
    """
    bugs = select(names)
    for bug in bugs:
        check_entry(bug)
    width = max(len(b.name) for b in bugs)
    source_width = max(len(b.source) for b in bugs)
    out(f"{'bug':<{width}}  {'source':<{source_width}}  {'status':<8}  {'s':>5}  caught by")
    outcomes, start = [], time.perf_counter()
    for bug in bugs:
        o = run_bug(bug, quick)
        outcomes.append(o)
        out(f"{bug.name:<{width}}  {bug.source:<{source_width}}  {o.status:<8}  {o.seconds:5.1f}  {o.caught_by}")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("caught", "survived", "error", "planted")}
    out(f"{len(bugs)} bugs: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        + f" in {time.perf_counter() - start:.0f} s")
    return 0 if all(o.status in ("caught", "planted") for o in outcomes) else 1
