"""The bug zoo: real mistakes from published GRPO/PPO code, each planted in a copy of this package.

``catalogue.BUGS`` lists them: where each was found, what it does to training, the exact text
that plants it, and the tests expected to catch it. ``run.run_zoo`` plants each one in a
temporary copy, runs those tests, and prints which test caught it (``python -m minigrpo bugzoo``).
A bug that survives means a missing test: the zoo is the suite's own test.

Two more uses of the same mutations: ``mystery`` plants one bug, unnamed, in a scratch copy of the repository for
a student to hunt (``--mystery``, ``--reveal``), and ``effects`` measures what each bug does to a short training
run at mu = 1 and mu = 2 next to the same run without it (``--effects``).
"""

from .catalogue import BUGS, Bug
from .run import format_catalogue, run_zoo

__all__ = ["BUGS", "Bug", "format_catalogue", "run_zoo"]
