"""Input checks: at the boundaries, and the one line a step function runs first.

PyTorch broadcasts before it complains: an advantage of shape [T] against a ratio of shape
[B, G, T] gives a wrong number, not an error, and a NaN reward turns a whole group into NaN
a few steps later. So each public step checks its arguments before any arithmetic, in one
call that reads like its docstring:

    checks.inputs(locals(), ratio="float [..., T]", adv="float [..., T]", clip_eps=">= 0")

The wrong kind of object is a TypeError; a wrong shape, NaN, inf or out-of-range number a
ValueError. Each message is one line that names the argument and quotes at most a short
excerpt of what it refuses. The checks are whole-tensor reductions (one ``isfinite(...).all()``),
never Python loops over elements. Finiteness is checked where the values are real (the mask
True) only: padding may hold anything, and every mean selects it away with ``torch.where``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from numbers import Integral, Real

import torch

_KINDS = {
    "float": (lambda dtype: dtype.is_floating_point, "a floating-point tensor"),
    "bool": (lambda dtype: dtype == torch.bool, "a bool tensor (True where the value is real)"),
    "int": (lambda dtype: not dtype.is_floating_point and not dtype.is_complex and dtype != torch.bool,
            "an integer tensor"),
    "tensor": (lambda dtype: True, "a tensor"),
}


def inputs(values: Mapping[str, object], owner: str = "", /, **specs) -> None:
    """Check each argument ``values[name]`` against ``specs[name]``, in order (messages say ``owner.name``).

    A spec is one of:

        "float [B, G, T]"  a tensor of that kind (float, bool, int, or tensor: any) with that many dimensions.
                           A dimension name is one size in every argument of the call, "..." the same leading
                           dimensions, "G >= 2" a smallest size. A float tensor must be finite where the bool
                           tensor of the same dimensions (its mask), if there is one, is True.
          + " in [0, T)"   its values (where the mask is True) lie in that range; a bound may name an argument
          + " prefix"      a bool tensor True on a prefix of each row and False after it: a completion's mask
          + " or None"     None is accepted too (after any spec written as text)
        "list [B, G]"      a list (or tuple) of B lists of G items
        ">= 0", "> 0", "in [0, 1]", "int >= 1"   a finite real number (an integer) in that range
        a class, [a class], callable              an instance, a non-empty list of instances, a function
    """
    bound: dict[str, tuple] = {}  # dimension -> (its size, and the name, shape and dims of the argument that set it)
    arrays = []  # (name, value, spec): their values are checked once every shape is known
    for arg, spec in specs.items():
        name, value = f"{owner}.{arg}" if owner else arg, values[arg]
        if spec is callable or isinstance(spec, (type, list)):
            _instance(name, value, spec)
            continue
        spec = _parse(spec)
        if value is None and spec.optional:
            continue
        if spec.dims is None:
            (integer if spec.kind == "int" else number)(name, value)
            _within(name, value, *_bounds(spec, values))
            continue
        shape = _list_shape(name, value, spec) if spec.kind == "list" else \
            tuple(tensor(name, value, spec.written, spec.kind).shape)
        for dim, size in _sizes(name, shape, spec).items():
            first = bound.setdefault(dim, (size, name, shape, spec.written))
            if first[0] != size:
                how = f"{spec.written} each" if first[3] == spec.written else \
                    f"{first[1]} is {first[3]}, {name} is {spec.written}"
                raise ValueError(f"{first[1]} {first[2]} and {name} {shape} must match ({how})")
        if spec.prefix and (value[..., 1:] & ~value[..., :-1]).any():
            raise ValueError(f"{name} must be True on a prefix of each row (the completion) and False after it")
        arrays.append((name, value, spec))
    masks = {spec.written: x for _, x, spec in arrays if spec.kind == "bool"}
    for name, x, spec in arrays:
        mask = masks.get(spec.written) if spec.kind != "bool" else None
        if spec.kind == "float":
            finite(name, x, mask)
        if spec.low is not None:
            _within_tensor(name, x.detach(), mask, *_bounds(spec, values))


@dataclass(frozen=True)
class _Spec:
    kind: str  # float, bool, int, tensor or list; a number's: int or real
    dims: tuple[tuple[str, int], ...] | None  # (name, smallest size) per dimension; None for a number
    written: str  # the dimensions as a docstring writes them: "[B, G]"
    low: str | None  # the range, as written: "0", "T"
    high: str | None
    low_open: bool
    high_open: bool
    prefix: bool
    optional: bool


_SPEC = re.compile(
    r"(?:(?P<kind>float|bool|int|tensor|list) \[(?P<dims>[^\]]*)\]|(?P<int>int))? ?"
    r"(?:in (?P<left>[\[(])(?P<low>[\w.+-]+), (?P<high>[\w.+-]+)(?P<right>[\])])|(?P<op>>=?) (?P<bound>[\w.+-]+))?"
    r"(?P<prefix> prefix)?(?P<optional> or None)?"
)


@cache
def _parse(spec: str) -> _Spec:
    m = _SPEC.fullmatch(spec)
    if m is None or (m["dims"] is None and m["low"] is None and m["bound"] is None):
        raise ValueError(f"checks.inputs cannot read the spec {spec!r}")
    dims = None if m["dims"] is None else \
        tuple((d.partition(" >= ")[0], int(d.partition(" >= ")[2] or 0)) for d in m["dims"].split(", "))
    return _Spec(kind=m["kind"] or ("int" if m["int"] else "real"), dims=dims,
                 written="[" + ", ".join(name for name, _ in dims) + "]" if dims else "",
                 low=m["low"] or m["bound"], high=m["high"], low_open=m["left"] == "(" or m["op"] == ">",
                 high_open=m["right"] == ")", prefix=bool(m["prefix"]), optional=bool(m["optional"]))


def _instance(name: str, value, spec) -> None:
    """callable, a class, or [a class]: a non-empty list of its instances."""
    if spec is callable and not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}")
    if isinstance(spec, type) and not isinstance(value, spec):
        raise TypeError(f"{name} must be a {spec.__name__}, got {type(value).__name__}")
    if isinstance(spec, list):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, spec[0]) for v in value):
            raise TypeError(f"{name} must be a list of {spec[0].__name__}, got {excerpt(value)}")
        if not value:
            raise ValueError(f"{name} is empty")


def _list_shape(name: str, value, spec: _Spec) -> tuple[int, ...]:
    """(B,) of a list, (B, G) of a list of B lists of G items."""
    nested = len(spec.dims) > 1
    if not isinstance(value, (list, tuple)) or nested and not all(isinstance(row, (list, tuple)) for row in value):
        raise TypeError(f"{name} must be a list {spec.written}, got {excerpt(value)}")
    if not value:
        raise ValueError(f"{name} is empty")
    lengths = sorted({len(row) for row in value}) if nested else []
    if len(lengths) > 1:
        raise ValueError(f"{name} must be a list {spec.written}, rows of one length, got rows of lengths {lengths}")
    return (len(value), *lengths)


def _sizes(name: str, shape: tuple[int, ...], spec: _Spec) -> dict[str, object]:
    """The size of each named dimension ("...": the tuple of the leading ones), each smallest size checked."""
    dims, rest, sizes = spec.dims, shape, {}
    if dims[0][0] == "...":
        lead = len(shape) - len(dims) + 1
        dims, rest, sizes = dims[1:], shape[lead:], {"...": shape[:lead]}
    for (dim, least), size in zip(dims, rest):
        if size < least:
            raise ValueError(f"{name} must have shape {spec.written} with {dim} >= {least}, got {shape}")
        sizes[dim] = size
    return sizes


def _bounds(spec: _Spec, values: Mapping[str, object]) -> tuple:
    """(low, high, low_open, high_open): a bound written as a name is that argument's value."""
    def read(text):
        return None if text is None else values[text] if text.isidentifier() else float(text)
    return read(spec.low), read(spec.high), spec.low_open, spec.high_open


def _within(name: str, value, low, high, low_open: bool = False, high_open: bool = False) -> None:
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low:g}, got {value}")
    if high is not None and (value >= high if high_open else value > high):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high:g}, got {value}")


def _within_tensor(name: str, x: torch.Tensor, mask, low, high, low_open: bool, high_open: bool) -> None:
    outside = (x <= low) if low_open else (x < low)
    if high is not None:
        outside |= (x >= high) if high_open else (x > high)
    if mask is not None:
        outside &= mask
    if outside.any():
        at = tuple(outside.nonzero()[0].tolist())
        where = "" if mask is None else " on its real (unmasked) positions"
        if high is None:
            expected = f"be {'>' if low_open else '>='} {low:g}"
        else:
            expected = f"lie in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must {expected}{where}, got {x[at].item()} at {at}")


def excerpt(value, at: int | None = None, width: int = 60) -> str:
    """repr(value) on one line, cut to about ``width`` characters; a longer str around index ``at``, its length said."""
    if isinstance(value, str) and len(value) > width:
        start = max(0, min((at or 0) - width // 2, len(value) - width))
        cut = f"{'...' if start else ''}{value[start : start + width]!r}{'...' if start + width < len(value) else ''}"
        return f"{cut} ({len(value)} characters)"
    text = " ".join(repr(value).split())  # one line: a tensor's repr spans several
    return text if len(text) <= width else text[: width - 3] + "..."


def tensor(name: str, x, shape: str, kind: str) -> torch.Tensor:
    """x must be a non-empty tensor of ``kind`` ("float", "bool", "int", "tensor") with as many dimensions as ``shape``.

    ``shape`` is how the docstring spells it, "[B, G, T]"; "[..., T]" means one dimension or more.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {shape}, got {type(x).__name__}")
    accepts, what = _KINDS[kind]
    if not accepts(x.dtype):
        raise TypeError(f"{name} must be {what}, got dtype {x.dtype}")
    names = shape.strip("[]").split(", ")
    dims = len(names) - ("..." in names)
    if (x.dim() < dims) if "..." in names else (x.dim() != dims):
        raise ValueError(f"{name} must have shape {shape}, got {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): an empty batch has nothing to learn from")
    return x


def same_shape(**named: torch.Tensor) -> None:
    """All the named tensors have exactly the same shape (checked before anything can broadcast)."""
    shapes = {name: tuple(x.shape) for name, x in named.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"shapes must match exactly (no broadcasting): {listed}")


def finite(name: str, x: torch.Tensor, mask: torch.Tensor | None = None) -> None:
    """No NaN or inf in x, or in its real positions (mask True) when a mask is given."""
    x = x.detach()
    if mask is not None:
        x = torch.where(mask, x, 0.0)
    if not torch.isfinite(x).all():
        where = " on a real (unmasked) position" if mask is not None else ""
        at = tuple((~torch.isfinite(x)).nonzero()[0].tolist())
        raise ValueError(f"{name} contains NaN or inf{where}: {x[at].item()} at {at}")


def number(name: str, value, low: float | None = None, high: float | None = None, low_open: bool = False) -> float:
    """A finite real number in [low, high] ((low, high] with ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {excerpt(value)}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    _within(name, value, low, high, low_open)
    return value


def integer(name: str, value, low: int | None = None) -> int:
    """A Python (or numpy) integer >= low; a bool or a float such as 8.0 is refused."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {excerpt(value)}")
    _within(name, value, low, None)
    return int(value)
