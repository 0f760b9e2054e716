"""How a config field is declared and checked: ``option`` (its default, its --help line, a float's range),
the checks every config runs on construction, ``from_dict`` for configs read back from files, and the
command-line flags made from the fields (``group_size`` -> ``--group-size``)."""

from __future__ import annotations

import argparse
import math
from dataclasses import MISSING, Field, field, fields


def option(default, help: str, within: str | None = None):
    """A config field with the one line that ``--help`` prints for it; ``within`` is a float's range, e.g. '(0, 1]'."""
    metadata = {"help": help, "within": within}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def default_of(f: Field):
    """A field's default value, whether given directly or by a factory."""
    return f.default_factory() if f.default is MISSING else f.default


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def check_positive(cfg, *names: str) -> None:
    for name in names:
        check(getattr(cfg, name) > 0, f"{name} must be positive, got {getattr(cfg, name)}")


def check_floats(cfg) -> None:
    """Every float field is a finite number in its range ``within`` ('(0, 1]' is 0 < value <= 1). Finite first:
    inf passes 'lr > 0' ('1e400' parses as inf), and nan fails every test but says nothing."""
    for f in (f for f in fields(cfg) if f.type == "float"):
        value, within = getattr(cfg, f.name), f.metadata["within"]
        check(type(value) in (int, float) and math.isfinite(value), f"{f.name} must be a finite number, got {value!r}")
        low, high = (float(bound) for bound in within[1:-1].split(","))
        check((low < value if within[0] == "(" else low <= value) and (value < high if within[-1] == ")"
               else value <= high), f"{f.name} must be in {within}, got {value}")


def from_dict(cls, values: dict):
    """Build a config dataclass from a dict, refusing unknown keys by name."""
    unknown = sorted(set(values) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    return cls(**values)


def parse_weights(text: str) -> dict[str, float]:
    """'correct=1,format=0.5' -> {'correct': 1.0, 'format': 0.5}; the config then checks names and values."""
    weights = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        try:
            weight = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected name=weight pairs joined by commas, got {text!r}") from None
        if not sep or name.strip() in weights:
            raise argparse.ArgumentTypeError(f"expected name=weight pairs, each name once, got {text!r}")
        weights[name.strip()] = weight
    return weights


def add_config_flags(parser: argparse.ArgumentParser, cls) -> None:
    """One flag per field of ``cls``, typed by its annotation, with its help line and default."""
    group = parser.add_argument_group(cls.__name__, cls.__doc__.splitlines()[0])
    for f in fields(cls):
        flag, default = "--" + f.name.replace("_", "-"), default_of(f)
        if f.type == "bool":
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                               help=f"{f.metadata['help']} (default: {default})")
        else:
            kind = {"int": int, "float": float, "str": str, "dict[str, float]": parse_weights}[f.type]
            shown = ",".join(f"{k}={v:g}" for k, v in default.items()) if isinstance(default, dict) else default
            within = f"; in {f.metadata['within']}" if f.metadata.get("within") else ""
            group.add_argument(flag, dest=f.name, type=kind, default=default, metavar=f.name.upper(),
                               help=f"{f.metadata['help']} (default: {shown}{within})")


def config_from(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


def add_out_flags(parser: argparse.ArgumentParser, default: str, resumable: bool) -> None:
    """--out, written transactionally (runtime.RunFolder); for training also --resume and --save-every."""
    parser.add_argument("--out", default=default, help="run folder (config.json, metrics.jsonl, policy.pt), written "
                        "as <out>.partial and moved to <out> only when the run finishes")
    parser.add_argument("--overwrite", action="store_true", help="replace the run in --out once this one finishes; "
                        "discard a stopped one in <out>.partial")
    if resumable:
        parser.add_argument("--resume", action="store_true", help="continue the stopped run in <out>.partial from "
                            "its last checkpoint, up to --steps (other flags as the run started)")
        parser.add_argument("--save-every", type=int, default=25, metavar="N",
                            help="steps between the checkpoints that --resume continues from (default: 25)")
