"""Small input checks shared by the package, and checks of what a user's model returns.

The math functions call these at their entry so that a wrong index, shape or number
fails loudly with the allowed range, instead of silently broadcasting or wrapping
around. A bad value raises ValueError; a wrong type raises `ArgTypeError`, a TypeError
that is also a ValueError (what these checks raised before it existed). Every message
names the parameter. What a user's model returns is checked by `check_model_output`
and, across the calls of a sampler, by `watch_model`; a NaN or inf there raises
FloatingPointError.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable

import torch
from torch import Tensor


class ArgTypeError(TypeError, ValueError):
    """An argument of the wrong type: a TypeError, and a ValueError for old callers."""


# ---------------------------------------------------------------------------- numbers
def check_int(
    value: object, name: str, low: int, high: int | None = None, *, bounds: str = ""
) -> int:
    """Return `value` as an int if it is an integer (not a bool) in low..high.

    `bounds` replaces the range in the message (say "in 1..T=1000").
    """
    bounds = bounds or (f"in {low}..{high}" if high is not None else f">= {low}")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgTypeError(f"{name} must be an integer {bounds}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer {bounds}, got {value!r}")
    return int(value)


def check_positive_int(value: object, name: str) -> int:
    """Return `value` as an int if it is an integer >= 1, else raise."""
    return check_int(value, name, 1)


def check_real(
    value: object,
    name: str,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> float:
    """Return `value` as a float if it is a finite real number (not a bool) in range.

    The interval is [low, high], with an end left out where open_low / open_high is set.
    """
    if low > -math.inf and high < math.inf:
        bounds = (
            f"in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        )
    elif low > -math.inf:
        bounds = f"{'>' if open_low else '>='} {low:g} and finite"
    elif high < math.inf:
        bounds = f"{'<' if open_high else '<='} {high:g} and finite"
    else:
        bounds = "a finite number"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgTypeError(
            f"{name} must be a real number ({bounds}), got {value!r:.60} of type "
            f"{type(value).__name__}"
        )
    v = float(value)
    inside = (v > low if open_low else v >= low) and (
        v < high if open_high else v <= high
    )
    if not (math.isfinite(v) and inside):
        raise ValueError(f"{name} must be {bounds}, got {value!r}")
    return v


def check_bool(value: object, name: str) -> bool:
    """Return `value` if it is a bool (True or False), else raise ArgTypeError."""
    if not isinstance(value, bool):
        raise ArgTypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_choice(value: object, choices: Iterable[object], name: str) -> None:
    """Raise ValueError unless `value` is one of `choices`."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


# ---------------------------------------------------------------------------- steps
def _is_int_tensor(t: object) -> bool:
    return (
        isinstance(t, Tensor)
        and not t.is_floating_point()
        and not t.is_complex()
        and t.dtype != torch.bool
    )


def check_timesteps(
    t: Tensor, T: int, name: str = "t", *, batch: int | None = None
) -> Tensor:
    """Check that `t` is an integer tensor of shape (B,) with values in 1..T; return it.

    `batch`, if given, is the required length B (the leading dimension of x).
    """
    if not _is_int_tensor(t):
        got = t.dtype if isinstance(t, Tensor) else type(t).__name__
        raise ArgTypeError(
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


def check_steps(
    t: Tensor | int, name: str, low: int, high: int, *, batch: int | None = None
) -> Tensor:
    """An int or an integer tensor of steps in low..high, as int64 on the CPU.

    With `batch`, an int or a 0-d tensor is expanded to (batch,) and any other shape
    must be (batch,); without it, any shape is kept.
    """
    if isinstance(t, bool) or not (
        isinstance(t, numbers.Integral) or _is_int_tensor(t)
    ):
        raise ArgTypeError(
            f"{name} must be an int or an integer tensor with values in {low}..{high}, "
            f"got {t!r:.60}"
        )
    t = torch.as_tensor(t, dtype=torch.int64).cpu()
    if batch is not None:
        t = t.expand(batch) if t.ndim == 0 else t
        if t.shape != (batch,):
            raise ValueError(
                f"{name} must be an int or have shape ({batch},), got {tuple(t.shape)}"
            )
    if t.numel() and (int(t.min()) < low or int(t.max()) > high):
        raise ValueError(
            f"{name} must be integers in {low}..{high}, got values in "
            f"{int(t.min())}..{int(t.max())}"
        )
    return t


# ---------------------------------------------------------------------------- tensors
def check_same_shape(**tensors: Tensor) -> None:
    """Raise unless all the named arguments are tensors of the same shape."""
    for name, x in tensors.items():
        if not isinstance(x, Tensor):
            raise ArgTypeError(f"{name} must be a tensor, got {type(x).__name__}")
    shapes = {name: tuple(x.shape) for name, x in tensors.items()}
    if len(set(shapes.values())) > 1:
        names = ", ".join(shapes)
        raise ValueError(f"{names} must have the same shape, got {shapes}")


def check_floating(x: object, name: str) -> Tensor:
    """Raise ArgTypeError unless `x` is a floating-point tensor; return it."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        got = x.dtype if isinstance(x, Tensor) else type(x).__name__
        raise ArgTypeError(f"{name} must be a floating-point tensor, got {got}")
    return x


def check_samples(x: object, name: str, *, finite: bool = True) -> Tensor:
    """Check a batch of data: a floating-point tensor (B, ...) with B >= 1; return it.

    With `finite` (one host read), NaN and inf are refused too.
    """
    if not isinstance(x, Tensor) or not x.is_floating_point():
        got = x.dtype if isinstance(x, Tensor) else type(x).__name__
        raise ArgTypeError(
            f"{name} must be a floating-point tensor of shape (B, ...), got {got}"
        )
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(
            f"{name} must hold at least one sample (shape (B, ...), B >= 1), got shape "
            f"{tuple(x.shape)}"
        )
    if finite:
        check_finite(x, name)
    return x


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


# ------------------------------------------------------------------------ model outputs
def _at(arg: str | None, mark: object) -> str:
    """' at t = 312' for the argument a model was called with (read only to report)."""
    if arg is None or mark is None:
        return ""
    if isinstance(mark, Tensor):
        v = mark.detach().reshape(-1).double()
        if v.numel() == 0:
            return ""
        lo, hi = float(v.min()), float(v.max())
        return f" at {arg} = {lo:g}" if lo == hi else f" at {arg} in [{lo:g}, {hi:g}]"
    return f" at {arg} = {mark:g}" if isinstance(mark, numbers.Real) else ""


def check_model_output(
    out: object,
    x: Tensor,
    name: str,
    *,
    shape: tuple[int, ...] | None = None,
    what: str = "the shape of x",
    finite: bool = True,
    arg: str | None = None,
    mark: object = None,
) -> Tensor:
    """Check what a user's model returned for input x; return it.

    It must be a floating-point tensor of x's shape (or `shape`, described by `what`) on
    x's device and, with `finite` (one host read), hold no NaN or inf. `arg` and `mark`
    name the call in the message ("at t = 312").
    """
    if not isinstance(out, Tensor) or not out.is_floating_point():
        got = out.dtype if isinstance(out, Tensor) else type(out).__name__
        raise ArgTypeError(f"{name} must return a floating-point tensor, got {got}")
    want = tuple(x.shape) if shape is None else tuple(shape)
    if tuple(out.shape) != want:
        raise ValueError(
            f"{name} returned shape {tuple(out.shape)}; expected {want}, {what}"
        )
    if out.device != x.device:
        raise ValueError(
            f"{name} returned a tensor on {out.device}; expected {x.device}, the "
            "device of x"
        )
    if finite and not bool(torch.isfinite(out).all()):
        hint = "" if bool(torch.isfinite(x).all()) else " (its input x is not finite)"
        raise FloatingPointError(f"{name} returned NaN or inf{_at(arg, mark)}{hint}")
    return out


_BLOCK = 1024  # the later outputs' sums are stacked into device tensors of this many


def watch_model(
    model: Callable[..., Tensor],
    name: str,
    *,
    arg: str | None = "t",
    track: bool = True,
) -> tuple[Callable[..., Tensor], Callable[[], None]]:
    """`model` wrapped so that what it returns is checked, and a function for the end.

    The first call is checked in full by `check_model_output` (one host read). Every
    later call checks shape, dtype and device, which costs no host read, and, if
    `track`, keeps the float64 sum of its output on the device (float32 on Apple's MPS,
    which has no float64): the sum is NaN or inf exactly when an entry is, as long as
    the finite entries do not add up past the largest float (1e308; 3e38). The second
    function reads those sums once and raises FloatingPointError naming the first call
    that returned NaN or inf, by the model's argument after x (`arg`: "t", "sigma") or
    by its number. The model is called as model(x, *args): its output has x's shape.
    """
    calls, marks, sums, blocks = 0, [], [], []

    def watched(x: Tensor, *args, **kwargs) -> Tensor:
        nonlocal calls
        out = model(x, *args, **kwargs)
        mark = args[0] if args and arg is not None else None
        if calls == 0:
            check_model_output(out, x, name, arg=arg, mark=mark)
        elif not (
            isinstance(out, Tensor)
            and out.shape == x.shape
            and out.device == x.device
            and out.is_floating_point()
        ):
            check_model_output(out, x, name, finite=False)  # raises, saying what
        elif track:
            wide = torch.float32 if out.device.type == "mps" else torch.float64
            sums.append(out.detach().sum(dtype=wide))  # one kernel, no host read
            if len(sums) == _BLOCK:
                blocks.append(torch.stack(sums))
                sums.clear()
        if track and arg is not None:
            marks.append(mark)
        calls += 1
        return out

    def check_later_outputs() -> None:
        later = blocks + ([torch.stack(sums)] if sums else [])
        if not later:
            return
        bad = (~torch.cat(later).isfinite()).nonzero()  # the one host read
        if len(bad):
            k = 1 + int(bad[0])  # the first call (k = 0) was checked when it returned
            at = _at(arg, marks[k]) if arg is not None else ""
            raise FloatingPointError(
                f"{name} returned NaN or inf{at} (call {k + 1} of {calls}); its "
                "earlier outputs were finite"
            )

    return watched, check_later_outputs
