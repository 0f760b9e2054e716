"""python -m minigrpo: the door to the lab's command line (minigrpo/lab/cli.py)."""

import sys

from .lab.cli import main

if __name__ == "__main__":
    sys.exit(main())
