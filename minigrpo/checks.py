"""Input checks every step runs first, so that bad input stops with one clear message.

PyTorch broadcasts before it complains: an advantage of shape [T] against a ratio of shape
[B, G, T] gives a wrong number, not an error, and a NaN reward turns a whole group into NaN
a few steps later. So each public step checks its arguments here before any arithmetic:
the wrong kind of object is a TypeError, a wrong shape, NaN, inf or out-of-range number a
ValueError, and each message names the argument and what was expected.

The checks are whole-tensor reductions (one ``isfinite(...).all()``), never Python loops
over elements. Finiteness is checked where the values are real (``mask`` True) only:
padding may hold anything, and every mean selects it away with ``torch.where``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch

_KINDS = {
    "float": (lambda dtype: dtype.is_floating_point, "a floating-point tensor"),
    "bool": (lambda dtype: dtype == torch.bool, "a bool tensor (True where the value is real)"),
    "int": (lambda dtype: not dtype.is_floating_point and not dtype.is_complex and dtype != torch.bool,
            "an integer tensor"),
}


def tensor(name: str, x, shape: str, kind: str) -> torch.Tensor:
    """x must be a non-empty tensor of ``kind`` ("float", "bool", "int") with as many dimensions as ``shape``.

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
        raise ValueError(f"{name} contains NaN or inf{where}")


def number(name: str, value, low: float | None = None, high: float | None = None, low_open: bool = False) -> float:
    """A finite real number in [low, high] ((low, high] with ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def integer(name: str, value, low: int) -> int:
    """A Python (or numpy) integer >= low; a bool or a float such as 8.0 is refused."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)
