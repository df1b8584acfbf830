"""Checkers for the lessons' exercises: ``check("00-half", answer)`` says whether an answer is right.

The right answers are computed from the package's own functions when a check runs; none is
stored. A checker prints a verdict (and a hint when the answer is wrong) and returns True or
False, so a lesson can ``assert`` it. Each lesson group registers its checkers with
``@exercise("NN-name")`` in its own module below.
"""

from . import (
    lessons_00_02,
    lessons_03_04,
    lessons_05_06,
    lessons_07,
    lessons_08,
    lessons_09_10,
    lessons_11,
    lessons_12,
    lessons_13,
)  # (registers)
from ._core import EXERCISES, REVEALS, Verdict, check, exercise

__all__ = ["EXERCISES", "REVEALS", "Verdict", "check", "exercise"]
