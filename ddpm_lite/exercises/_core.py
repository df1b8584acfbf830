"""The registry of exercise checkers: ``check("00-half", answer)`` says whether an answer is right.

The right answers are computed here from the package's own functions when a check runs;
none is stored. A checker prints a verdict (and a hint when the answer is wrong) and returns
True or False, so a lesson can ``assert`` it. Register one with ``@exercise("NN-name")``, or
``@exercise("NN-name", reveals=True)`` when one of its hints states the answer (a formula to
type in): graded assignments then show only the verdict until the work is marked.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable

import torch

Verdict = tuple[bool, str]
EXERCISES: dict[str, Callable[[object], Verdict]] = {}
#: The exercises whose checker can print the answer itself in a hint.
REVEALS: set[str] = set()


def exercise(name: str, reveals: bool = False):
    """Register the decorated function as the checker of exercise ``name``; ``reveals``: one
    of its hints states the answer."""

    def register(checker: Callable[[object], Verdict]) -> Callable[[object], Verdict]:
        EXERCISES[name] = checker
        if reveals:
            REVEALS.add(name)
        return checker

    return register


def check(exercise: str, answer: object, hint: bool = True) -> bool:
    """Check ``answer`` to the exercise named ``exercise`` (e.g. "00-half"); print and return the verdict.

    ``hint=False`` prints only "correct" or "not yet", never the checker's hint.
    """
    if exercise not in EXERCISES:
        raise ValueError(
            f"exercise must be one of {sorted(EXERCISES)}, got {exercise!r}"
        )
    if not isinstance(hint, bool):
        raise TypeError(f"hint must be True or False, got {hint!r}")
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        answer = answer.item()
    ok, message = EXERCISES[exercise](answer)
    if not hint:
        message = (
            "correct" if ok else "not yet (the hint is shown when your work is marked)"
        )
    # wrapped to the width of a lesson's code column, so a long hint never scrolls sideways
    print(textwrap.fill(f"{exercise}: {message}", width=88, subsequent_indent="    "))
    return ok


def _is_int(answer: object) -> bool:
    return isinstance(answer, int) and not isinstance(answer, bool)


def _is_number(answer: object) -> bool:
    return (
        isinstance(answer, (int, float))
        and not isinstance(answer, bool)
        and math.isfinite(answer)
    )


def _first_step_at_or_below(alpha_bar: torch.Tensor, level: float) -> int:
    return int(
        (alpha_bar <= level).nonzero()[0]
    )  # index t of a T+1 table is the paper's t


def _step_verdict(answer: object, truth: int, hint: str) -> Verdict:
    if not _is_int(answer):
        return False, f"expected an integer step t, got {answer!r}"
    if answer == truth:
        return True, "correct"
    if abs(answer - truth) == 1:
        return False, "off by one: is index 0 of your tensor beta_1 or clean data?"
    return False, f"not yet: {hint}"


def _close(answer: object, truth: float, rtol: float = 1e-4) -> bool:
    return _is_number(answer) and abs(answer - truth) <= rtol * abs(truth)


def _call(answer, *args, convert=None):
    """(the learner's answer at args, None), or (None, a message) if it raised: a checker says so
    rather than crashing. `convert` (e.g. float) is applied inside the same guard."""
    try:
        value = answer(*args)
        return (convert(value) if convert is not None else value), None
    except Exception as error:  # the learner's code failed: report it as a verdict
        return None, f"your function raised {type(error).__name__}: {error}"


def _as_float64(value) -> torch.Tensor:
    return torch.as_tensor(value, dtype=torch.float64)
