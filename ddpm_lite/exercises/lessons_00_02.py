"""Exercise checkers of lessons 00-02 (forward process, posterior); registered on import."""

from __future__ import annotations

import torch

from ..schedule import cosine_schedule, linear_schedule
from ._core import (
    Verdict,
    _as_float64,
    _call,
    _first_step_at_or_below,
    _is_number,
    _step_verdict,
    exercise,
)


@exercise("00-half")
def _check_00_half(answer: object) -> Verdict:
    truth = _first_step_at_or_below(linear_schedule().alpha_bar, 0.5)
    return _step_verdict(
        answer, truth, "alpha_bar_t is the product of (1 - beta_s) for s = 1..t"
    )


@exercise("01-cosine-half")
def _check_01_cosine_half(answer: object) -> Verdict:
    truth = _first_step_at_or_below(cosine_schedule().alpha_bar, 0.5)
    return _step_verdict(
        answer,
        truth,
        "use f(t) = cos^2(((t/T + s)/(1 + s)) pi/2) and alpha_bar_t = f(t)/f(0)",
    )


@exercise("01-sum-beta")
def _check_01_sum_beta(answer: object) -> Verdict:
    truth = float(linear_schedule().beta.sum())
    if not _is_number(answer):
        return False, f"expected a number, got {answer!r}"
    if abs(answer - truth) <= 1e-6 * truth:
        return True, "correct"
    return (
        False,
        "not yet: the betas rise linearly, so their sum is T times their average",
    )


@exercise("01-variance")
def _check_01_variance(answer: object) -> Verdict:
    # answer: a function (alpha_bar, v) -> Var[x_t] for data of per-coordinate variance v.
    if not callable(answer):
        return False, "expected a function of (alpha_bar, v)"
    for alpha_bar, v in [(0.9, 0.25), (0.5, 1.0), (0.01, 4.0), (1.0, 2.0)]:
        truth = alpha_bar * v + (1 - alpha_bar)
        value, error = _call(answer, alpha_bar, v, convert=float)
        if error:
            return False, error
        if not abs(value - truth) <= 1e-9:
            return (
                False,
                f"not yet: at alpha_bar = {alpha_bar}, v = {v} you give {value:.4g}",
            )
    return (
        True,
        "correct: and with v = 1 the variance is 1 at every t (variance preserving)",
    )


@exercise("02-ratio")
def _check_02_ratio(answer: object) -> Verdict:
    # First t at which beta_tilde_t >= 0.99 beta_t for the paper's linear schedule.
    s = linear_schedule()
    ratio = s.beta_tilde[1:] / s.beta[1:]
    truth = int((ratio >= 0.99).nonzero()[0]) + 1
    return _step_verdict(
        answer,
        truth,
        "beta_tilde_t / beta_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)",
    )


@exercise("02-eps-form")
def _check_02_eps_form(answer: object) -> Verdict:
    # answer: mu(x_t, eps, t, s) giving the posterior mean from x_t and the true noise.
    from ..diffusion import q_posterior, q_sample

    if not callable(answer):
        return False, "expected a function mu(x_t, eps, t, s)"
    s = linear_schedule()
    generator = torch.Generator().manual_seed(0)
    x_0 = torch.randn(64, 3, generator=generator, dtype=torch.float64)
    eps = torch.randn(64, 3, generator=generator, dtype=torch.float64)
    t = torch.randint(1, s.T + 1, (64,), generator=generator)
    x_t = q_sample(s, x_0, t, eps)
    mu, error = _call(answer, x_t, eps, t, s, convert=_as_float64)
    if error:
        return False, error
    truth, _ = q_posterior(s, x_0, x_t, t)
    if mu.shape != truth.shape:
        return False, f"expected shape {tuple(truth.shape)}, got {tuple(mu.shape)}"
    if torch.allclose(mu, truth, rtol=1e-9, atol=1e-9):
        return True, "correct"
    # the classic slip: the prefactor 1/sqrt(alpha_bar_t), as if stepping back to x_0
    ab, a = s.alpha_bar[t, None], s.alpha[t, None]
    if torch.allclose(mu * ab.sqrt(), truth * a.sqrt(), rtol=1e-9, atol=1e-9):
        return (
            False,
            "not yet: the prefactor is 1/sqrt(alpha_t), not 1/sqrt(alpha_bar_t)",
        )
    return (
        False,
        "not yet: substitute x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t) into mu_tilde",
    )
