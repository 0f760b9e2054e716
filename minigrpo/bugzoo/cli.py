"""``python -m minigrpo bugzoo``: registered from here, so the command line's file stays one sitting long."""

from __future__ import annotations


def add_command(sub) -> None:
    """Add the ``bugzoo`` subcommand to the command line's subparsers."""
    p = sub.add_parser("bugzoo", help="plant each catalogued real-world bug in a copy of the package and show "
                       "which test catches it; exit 1 if one survives")
    p.add_argument("--bug", nargs="+", metavar="NAME", help="only these bugs (default: the whole catalogue)")
    p.add_argument("--list", action="store_true", help="print the catalogue (source, tests, what each bug does)")
    p.add_argument("--quick", action="store_true", help="only check that every mutation applies and compiles")
    p.set_defaults(func=cmd_bugzoo)


def cmd_bugzoo(args) -> int:
    from .run import format_catalogue, run_zoo

    if args.list:
        print(format_catalogue(args.bug))
        return 0
    return run_zoo(args.bug, quick=args.quick)
