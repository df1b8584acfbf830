"""Numbers that a lesson computes, inserted into its prose.

A lesson never types a measured number into its text. It computes the number, formats it
once, and stores the text under a key::

    fd_text = glue("fd_ddpm", fd, ".1f")    # stores "17.6" and returns it
    print(f"Frechet distance {fd_text}")

and its Markdown writes {glue}`fd_ddpm`. The book inserts the stored text (myst-nb reads
the same output format); the Colab and student editions substitute it when they are
written. Strict nbval compares the stored text with a fresh run, so the sentence and the
computation cannot drift apart: a changed number fails the lesson until it is re-executed,
and re-executing it rewrites the sentence. Nothing in the package imports this module.
"""

from __future__ import annotations

import re
from numbers import Integral, Real

# The output format of myst-nb's glue, so that the book's {glue} role finds the value.
GLUE_PREFIX = "application/papermill.record/"
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _scalar(value):
    """A Python number from a number, a 0-d tensor or array, or a numpy scalar."""
    if isinstance(value, bool):
        raise TypeError("glue: value must be a number or a string, got a bool")
    if isinstance(value, (str, Integral, Real)):
        return value
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0:
        return item()
    raise TypeError(
        f"glue: value must be a number, a string or a 0-d tensor/array, "
        f"got {type(value).__name__}"
    )


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def sci(value: float, digits: int = 2) -> str:
    """A number in scientific notation as prose writes it: "5.5 × 10⁻⁵", "10⁻⁸", "0".

    digits: significant digits of the mantissa (a mantissa of exactly 1 is left out).
    """
    if not isinstance(digits, Integral) or digits < 1:
        raise ValueError(f"sci: digits must be an integer >= 1, got {digits!r}")
    value = float(_scalar(value))
    if value == 0 or value != value or value in (float("inf"), float("-inf")):
        return format(value, "g")
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    power = "10" + str(int(exponent)).translate(_SUPERSCRIPT)
    if float(mantissa) in (1.0, -1.0):
        return power if mantissa[0] != "-" else "−" + power
    return f"{mantissa.replace('-', '−')} × {power}"


class Glued(str):
    """The text `glue` stored: a str that a notebook does not echo when a cell ends with it."""

    def _ipython_display_(self) -> None:
        pass


def glue(name: str, value, fmt: str = "") -> str:
    """Store ``format(value, fmt)`` as the text of {glue}`name` and return that text.

    name: a Python identifier, unique within the lesson.  value: a number, a string, or a
    0-d tensor/array (numpy and torch scalars are turned into Python numbers first, so a
    format such as ".3f" always applies).  fmt: a format spec, as in f"{value:fmt}".
    """
    if not isinstance(name, str) or not _KEY.fullmatch(name):
        raise ValueError(f"glue: name must be a Python identifier, got {name!r}")
    value = _scalar(value)
    try:
        text = format(value, fmt)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"glue: fmt {fmt!r} does not apply to {value!r} ({error})"
        ) from None
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # a plain script: nothing to store the text in
        return Glued(text)
    if get_ipython() is not None:
        display(
            {GLUE_PREFIX + "text/plain": text},
            raw=True,
            metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}},
        )
    return Glued(text)
