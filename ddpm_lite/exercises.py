"""Checkers for the lessons' exercises: ``check("00-half", answer)`` says whether an answer is right.

The right answers are computed here from the package's own functions when a check runs;
none is stored. A checker prints a verdict (and a hint when the answer is wrong) and returns
True or False, so a lesson can ``assert`` it. Register one with ``@exercise("NN-name")``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .schedule import cosine_schedule, linear_schedule

Verdict = tuple[bool, str]
EXERCISES: dict[str, Callable[[object], Verdict]] = {}


def exercise(name: str):
    """Register the decorated function as the checker of exercise ``name``."""
    def register(checker: Callable[[object], Verdict]) -> Callable[[object], Verdict]:
        EXERCISES[name] = checker
        return checker
    return register


def check(exercise: str, answer: object) -> bool:
    """Check ``answer`` to the exercise named ``exercise`` (e.g. "00-half"); print and return the verdict."""
    if exercise not in EXERCISES:
        raise ValueError(f"exercise must be one of {sorted(EXERCISES)}, got {exercise!r}")
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        answer = answer.item()
    ok, message = EXERCISES[exercise](answer)
    print(f"{exercise}: {message}")
    return ok


def _is_int(answer: object) -> bool:
    return isinstance(answer, int) and not isinstance(answer, bool)


def _is_number(answer: object) -> bool:
    return isinstance(answer, (int, float)) and not isinstance(answer, bool) and math.isfinite(answer)


def _first_step_at_or_below(alpha_bar: torch.Tensor, level: float) -> int:
    return int((alpha_bar <= level).nonzero()[0])  # index t of a T+1 table is the paper's t


def _step_verdict(answer: object, truth: int, hint: str) -> Verdict:
    if not _is_int(answer):
        return False, f"expected an integer step t, got {answer!r}"
    if answer == truth:
        return True, "correct"
    if abs(answer - truth) == 1:
        return False, "off by one: is index 0 of your tensor beta_1 or clean data?"
    return False, f"not yet: {hint}"


@exercise("00-half")
def _check_00_half(answer: object) -> Verdict:
    truth = _first_step_at_or_below(linear_schedule().alpha_bar, 0.5)
    return _step_verdict(answer, truth, "alpha_bar_t is the product of (1 - beta_s) for s = 1..t")


@exercise("01-cosine-half")
def _check_01_cosine_half(answer: object) -> Verdict:
    truth = _first_step_at_or_below(cosine_schedule().alpha_bar, 0.5)
    return _step_verdict(answer, truth, "use f(t) = cos^2(((t/T + s)/(1 + s)) pi/2) and alpha_bar_t = f(t)/f(0)")


@exercise("01-sum-beta")
def _check_01_sum_beta(answer: object) -> Verdict:
    truth = float(linear_schedule().beta.sum())
    if not _is_number(answer):
        return False, f"expected a number, got {answer!r}"
    if abs(answer - truth) <= 1e-6 * truth:
        return True, "correct"
    return False, "not yet: the betas rise linearly, so their sum is T times their average"


@exercise("01-variance")
def _check_01_variance(answer: object) -> Verdict:
    # answer: a function (alpha_bar, v) -> Var[x_t] for data of per-coordinate variance v.
    if not callable(answer):
        return False, "expected a function of (alpha_bar, v)"
    for alpha_bar, v in [(0.9, 0.25), (0.5, 1.0), (0.01, 4.0), (1.0, 2.0)]:
        truth = alpha_bar * v + (1 - alpha_bar)
        try:
            value = float(answer(alpha_bar, v))
        except Exception as error:  # the learner's function failed: say so, do not crash
            return False, f"your function raised {type(error).__name__}: {error}"
        if not abs(value - truth) <= 1e-9:
            return False, f"not yet: at alpha_bar = {alpha_bar}, v = {v} you give {value:.4g}"
    return True, "correct: and with v = 1 the variance is 1 at every t (variance preserving)"


@exercise("02-ratio")
def _check_02_ratio(answer: object) -> Verdict:
    # First t at which beta_tilde_t >= 0.99 beta_t for the paper's linear schedule.
    s = linear_schedule()
    ratio = s.beta_tilde[1:] / s.beta[1:]
    truth = int((ratio >= 0.99).nonzero()[0]) + 1
    return _step_verdict(answer, truth, "beta_tilde_t / beta_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)")


@exercise("02-eps-form")
def _check_02_eps_form(answer: object) -> Verdict:
    # answer: mu(x_t, eps, t, s) giving the posterior mean from x_t and the true noise.
    from .diffusion import q_posterior, q_sample

    if not callable(answer):
        return False, "expected a function mu(x_t, eps, t, s)"
    s = linear_schedule()
    generator = torch.Generator().manual_seed(0)
    x_0 = torch.randn(64, 3, generator=generator, dtype=torch.float64)
    eps = torch.randn(64, 3, generator=generator, dtype=torch.float64)
    t = torch.randint(1, s.T + 1, (64,), generator=generator)
    x_t = q_sample(s, x_0, t, eps)
    try:
        mu = torch.as_tensor(answer(x_t, eps, t, s), dtype=torch.float64)
    except Exception as error:  # the learner's function failed: say so, do not crash
        return False, f"your function raised {type(error).__name__}: {error}"
    truth, _ = q_posterior(s, x_0, x_t, t)
    if mu.shape == truth.shape and torch.allclose(mu, truth, rtol=1e-9, atol=1e-9):
        return True, "correct"
    return False, "not yet: substitute x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t) into mu_tilde"
