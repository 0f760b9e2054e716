"""The mystery bug: one bug of the zoo, planted without its name in a scratch copy of the repository, to be hunted.

    python -m minigrpo bugzoo --mystery [--seed N]   copy the repository to runs/mystery (ignored by git; data/
                                                     linked) and plant one catalogued bug in it, chosen at random
                                                     or by the seed; print how to hunt it, never which it is
    python -m minigrpo bugzoo --reveal               which bug it was: what it does, where it was found, the diff

The hunt uses what finds bugs in practice: the test suite, run on the copy, and a short training run of the copy
next to the same run of the package. Both runs start from the same warm start with the same seed, so they draw the
same prompts and, until the bug first changes a number, the same completions: any difference is the bug's. A
second ``--mystery`` replaces the first. The copy records its bug as the SHA-256 of the bug's name, which a glance
at the folder does not turn back into a name. (``diff -r minigrpo runs/mystery/minigrpo`` does: that is reading
the answer, not hunting.)
"""

from __future__ import annotations

import difflib
import hashlib
import random
import shutil
import sys
import textwrap
from pathlib import Path

from .catalogue import BUGS, Bug
from .run import ROOT, copy_repository, plant

MARK = ".mystery"  # in the copy: the fingerprint of its bug
HUNT_STEPS = 40  # the short training run: long enough for the reward and the KL to move
HUNT_INNER_STEPS = 2  # mu = 2: a bug of the ratio, the clip or pi_old acts only from the second inner step


def fingerprint(bug: Bug) -> str:
    return hashlib.sha256(bug.name.encode()).hexdigest()


def plant_mystery(folder: Path, seed: int | None = None) -> Bug:
    """Copy the repository to ``folder`` and plant one bug of the catalogue there: ``random.Random(seed)``'s choice
    (any, for seed None). A folder that holds an earlier mystery is replaced; any other existing folder is refused."""
    folder = Path(folder)
    if folder.exists():
        if not (folder / MARK).is_file():
            raise ValueError(f"{folder} exists and holds no mystery bug; name another folder with --dir")
        shutil.rmtree(folder)
    bug = random.Random(seed).choice(BUGS)
    copy_repository(folder)
    plant(bug, folder)
    (folder / MARK).write_text(fingerprint(bug) + "\n")
    return bug


def planted(folder: Path) -> Bug:
    """The bug planted in ``folder`` by ``plant_mystery``."""
    mark = Path(folder) / MARK
    if not mark.is_file():
        raise ValueError(f"{folder} holds no mystery bug: plant one with python -m minigrpo bugzoo --mystery")
    found = [bug for bug in BUGS if fingerprint(bug) == mark.read_text().strip()]
    if not found:
        raise ValueError(f"{folder}'s bug is no longer in the catalogue; plant a new one with --mystery")
    return found[0]


def hunt(folder: Path) -> str:
    """How to find the bug in ``folder``: the commands, with absolute paths, to paste into a shell anywhere."""
    copy, python = Path(folder).resolve(), sys.executable
    in_copy = f"cd {copy} && PYTHONPATH={copy} {python} -m"  # the copy's minigrpo, ahead of the installed one
    run = f"grpo --steps {HUNT_STEPS} --num-inner-steps {HUNT_INNER_STEPS} --eval-every 10 --overwrite"
    return "\n".join([
        f"One of the {len(BUGS)} bugs of the zoo is planted in {copy}, a copy of the repository"
        + (" (git ignores it)." if copy.is_relative_to(ROOT / "runs") else "."),
        "Which one, it does not say. Hunt it:",
        "",
        "1. The test suite, on the copy (stop at the first failure; then read the test that failed, its name states",
        "   the property the code breaks):",
        f"     {in_copy} pytest -x -q tests",
        f"2. A short training run of the copy ({HUNT_STEPS} GRPO steps of {HUNT_INNER_STEPS} inner steps each) and the "
        "same run of",
        "   the package, with the same seed: until the bug acts, the two agree number for number. Compare their",
        "   metrics.jsonl: reward, KL, clip fraction, completion length, held-out accuracy.",
        f"     {in_copy} minigrpo {run} --out runs/hunt",
        f"     cd {ROOT} && {python} -m minigrpo {run} --out runs/mystery-baseline",
        "   Some bugs act only where their code runs: in PPO (ppo instead of grpo), at a temperature other than 1",
        "   (--temperature 0.7), with a learned reward model (--reward-model data/orm.pt), or in several processes",
        "   (torchrun, with --aggregation dapo).",
        "3. The answer, when you have one (or give up):",
        f"     {python} -m minigrpo bugzoo --reveal --dir {copy}",
        "",
        "A new --mystery replaces this one.",
    ])


def reveal(folder: Path) -> str:
    """The bug planted in ``folder``: its name, what it does, where it was found, the tests that catch it, the diff."""
    bug = planted(folder)
    path = ROOT / "minigrpo" / bug.file
    before = path.read_text()
    diff = difflib.unified_diff(before.splitlines(keepends=True),
                                before.replace(bug.old, bug.new).splitlines(keepends=True),
                                f"a/minigrpo/{bug.file}", f"b/minigrpo/{bug.file}")
    return "\n".join([f"The mystery bug: {bug.name}  (minigrpo/{bug.file})", f"  found in: {bug.source}",
                      f"  caught by: {', '.join(bug.tests)}", textwrap.fill(bug.description, 116, initial_indent="  ",
                                                                         subsequent_indent="  "),
                      "", "".join(diff).rstrip()])
