"""Exercise checkers of lessons 09-10 (scores, SDEs); registered on import."""

from __future__ import annotations

import torch

from ..schedule import linear_schedule
from ._core import Verdict, _as_float64, _call, _close, _is_number, exercise


# ---------------------------------------------------------------- lesson 09: scores and Langevin
@exercise("09-peak", reveals=True)
def _check_09_peak(answer: object) -> Verdict:
    # The largest std s of N(0, s^2 I) in 2-D whose density exceeds 1 somewhere (at its mean).
    from ..oracle import GaussianMixture

    if not _is_number(answer):
        return False, f"expected a number (a standard deviation), got {answer!r}"
    origin = torch.zeros(1, 2, dtype=torch.float64)

    def log_peak(s: float) -> float:
        gm = GaussianMixture(torch.zeros(1, 2), torch.tensor([s]), torch.ones(1))
        return float(gm.log_prob(origin))

    lo, hi = 1e-3, 10.0  # log_peak falls with s: bisect for 0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if log_peak(mid) > 0 else (lo, mid)
    truth = (lo + hi) / 2
    if _close(answer, truth):
        return (
            True,
            "correct: a narrower bump is taller than 1, and still integrates to 1",
        )
    if _close(answer, truth**2):
        return (
            False,
            "not yet: that is the variance s^2; the question asks for the std s",
        )
    return False, "not yet: the density of N(0, s^2 I) in 2-D peaks at 1 / (2 pi s^2)"


def _ula_coefficient(s2: float, eps: float) -> float:
    """rho of one step of the package's Langevin sampler on N(0, s2): x_1 = rho x_0 + noise."""
    from ..langevin import langevin

    def one_step(x0: float) -> float:
        x = torch.full((1, 1), x0, dtype=torch.float64)
        return float(
            langevin(
                lambda x: -x / s2,
                x,
                step_size=eps,
                n_steps=1,
                generator=torch.Generator().manual_seed(0),
            )
        )

    return one_step(1.0) - one_step(0.0)  # same noise: the difference is rho


@exercise("09-ula-variance")
def _check_09_ula_variance(answer: object) -> Verdict:
    # answer: v(s2, eps), the stationary variance of unadjusted Langevin on N(0, s2) with step eps.
    if not callable(answer):
        return False, "expected a function v(s2, eps)"
    for s2, eps in [(1.0, 0.1), (0.09, 0.09), (4.0, 0.5), (0.25, 1e-3)]:
        rho = _ula_coefficient(s2, eps)
        truth = eps / (1 - rho**2)  # fixed point of v = rho^2 v + eps
        value, error = _call(answer, s2, eps, convert=float)
        if error:
            return False, error
        if not abs(value - truth) <= 1e-9 * truth:
            if abs(value - s2) <= 1e-12 * s2:
                return (
                    False,
                    "not yet: for any step > 0 the unadjusted chain is biased; it is not s2",
                )
            return False, (
                f"not yet: at s2 = {s2}, eps = {eps} you give {value:.6g}; write one step as "
                "x' = rho x + sqrt(eps) z and solve v = rho^2 v + eps"
            )
    return (
        True,
        "correct: the relative bias is about eps / (4 s2), and the chain diverges at eps = 4 s2",
    )


@exercise("09-dsm-target")
def _check_09_dsm_target(answer: object) -> Verdict:
    # answer: target(x_tilde, x, sigma) = grad_{x_tilde} log N(x_tilde; x, sigma^2 I), batched.
    if not callable(answer):
        return False, "expected a function target(x_tilde, x, sigma)"
    generator = torch.Generator().manual_seed(9)
    x = torch.randn(32, 2, generator=generator, dtype=torch.float64)
    for sigma in (0.1, 0.5, 2.0):
        x_tilde = (
            x + sigma * torch.randn(32, 2, generator=generator, dtype=torch.float64)
        ).requires_grad_(True)
        log_kernel = -((x_tilde - x) ** 2).sum() / (2 * sigma**2)  # up to a constant
        truth = torch.autograd.grad(log_kernel, x_tilde)[0]
        value, error = _call(answer, x_tilde.detach(), x, sigma, convert=_as_float64)
        if error:
            return False, error
        if value.shape != truth.shape:
            return (
                False,
                f"not yet: expected shape {tuple(truth.shape)}, got {tuple(value.shape)}",
            )
        if not torch.allclose(value, truth, rtol=1e-9, atol=1e-12):
            if torch.allclose(value, -truth, rtol=1e-9, atol=1e-12):
                return (
                    False,
                    "not yet: wrong sign; the target points from x_tilde back towards x",
                )
            if torch.allclose(value, truth * sigma, rtol=1e-9, atol=1e-12):
                return (
                    False,
                    "not yet: divide by sigma^2, the kernel's variance, not by sigma",
                )
            return (
                False,
                f"not yet at sigma = {sigma}: differentiate log N(x_tilde; x, sigma^2 I) in x_tilde",
            )
    return True, "correct"


# ---------------------------------------------------------------- lesson 10: the SDE and ODE view
@exercise("10-m1", reveals=True)
def _check_10_m1(answer: object) -> Verdict:
    # m(1)^2, the continuous alpha_bar at t = 1 of the VP SDE matching the linear schedule.
    from ..sde import VPSDE

    if not _is_number(answer):
        return False, f"expected a number, got {answer!r}"
    s = linear_schedule()
    m_1 = float(VPSDE.from_schedule(s).marginal(1.0)[0])
    if _close(answer, m_1**2):
        return (
            True,
            "correct: close to alpha_bar_T but not equal; the steps differ by O(beta_t^2) each",
        )
    if _close(answer, float(s.alpha_bar[s.T])):
        return (
            False,
            "not yet: that is the discrete alpha_bar_T; integrate beta(t) instead of multiplying",
        )
    if _close(answer, m_1):
        return (
            False,
            "not yet: that is m(1), the mean coefficient; alpha_bar corresponds to m(1)^2",
        )
    return (
        False,
        "not yet: m(t)^2 = exp(-int_0^t beta(s) ds) with beta(s) = beta_min + s (beta_max - beta_min)",
    )


@exercise("10-pf-drift", reveals=True)
def _check_10_pf_drift(answer: object) -> Verdict:
    # answer: drift(x, t, score), the probability-flow velocity of VESDE() given the score values.
    from ..sde import VESDE, pf_ode_drift

    if not callable(answer):
        return False, "expected a function drift(x, t, score)"
    sde = VESDE()
    generator = torch.Generator().manual_seed(10)
    x = torch.randn(16, 2, generator=generator, dtype=torch.float64)
    score = torch.randn(16, 2, generator=generator, dtype=torch.float64)
    for t in (0.1, 0.5, 0.9):
        truth = pf_ode_drift(lambda x, t: score, sde, x, t)
        value, error = _call(answer, x, t, score, convert=_as_float64)
        if error:
            return False, error
        if value.shape == truth.shape and torch.allclose(
            value, truth, rtol=1e-9, atol=1e-12
        ):
            continue
        if value.shape == truth.shape and torch.allclose(
            value, 2 * truth, rtol=1e-9, atol=1e-12
        ):
            return (
                False,
                "not yet: g(t)^2 times the score is the reverse SDE's drift; the ODE has half of it",
            )
        if value.shape == truth.shape and torch.allclose(
            value, -0.5 * float(sde.sigma(t)) ** 2 * score, rtol=1e-9, atol=1e-12
        ):
            return False, "not yet: g(t) is not sigma(t); g(t)^2 = d sigma(t)^2 / dt"
        return (
            False,
            f"not yet at t = {t}: dx/dt = f(x, t) - 1/2 g(t)^2 score, and f = 0 for the VE SDE",
        )
    return True, "correct"
