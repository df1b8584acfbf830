"""Small input checks shared by the package: each raises ValueError naming the parameter.

The math functions call these at their entry so that a wrong index or shape fails
loudly with the allowed range, instead of silently broadcasting or wrapping around.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor


def check_positive_int(value: object, name: str) -> int:
    """Return `value` as an int if it is an integer >= 1, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def check_choice(value: object, choices: Iterable[object], name: str) -> None:
    """Raise ValueError unless `value` is one of `choices`."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def check_timesteps(
    t: Tensor, T: int, name: str = "t", *, batch: int | None = None
) -> Tensor:
    """Check that `t` is an integer tensor of shape (B,) with values in 1..T; return it.

    `batch`, if given, is the required length B (the leading dimension of x).
    """
    if (
        not isinstance(t, Tensor)
        or t.dtype == torch.bool
        or t.is_floating_point()
        or t.is_complex()
    ):
        got = t.dtype if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(
            f"{name} must be integers in 1..T={T} (an int64 tensor), got {got}"
        )
    if t.ndim != 1 or (batch is not None and t.shape[0] != batch):
        want = f"({batch},)" if batch is not None else "(B,)"
        raise ValueError(f"{name} must have shape {want}, got {tuple(t.shape)}")
    if t.numel() and (int(t.min()) < 1 or int(t.max()) > T):
        raise ValueError(
            f"{name} must be integers in 1..T={T}, got values in "
            f"{int(t.min())}..{int(t.max())}"
        )
    return t


def check_same_shape(**tensors: Tensor) -> None:
    """Raise ValueError unless all the named tensors have the same shape."""
    shapes = {name: tuple(x.shape) for name, x in tensors.items()}
    if len(set(shapes.values())) > 1:
        names = ", ".join(shapes)
        raise ValueError(f"{names} must have the same shape, got {shapes}")


def check_finite(x: Tensor, name: str) -> None:
    """Raise ValueError if `x` has a NaN or an infinite entry."""
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite, got NaN or inf")


def check_open_interval(x: Tensor | float, low: float, high: float, name: str) -> None:
    """Raise ValueError unless every entry of `x` lies strictly inside (low, high)."""
    x = torch.as_tensor(x)
    if x.numel() == 0 or not bool(((x > low) & (x < high)).all()):
        lo, hi = (float(x.min()), float(x.max())) if x.numel() else (math.nan, math.nan)
        raise ValueError(
            f"{name} must be in ({low}, {high}), got values in [{lo}, {hi}]"
        )
