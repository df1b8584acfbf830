"""Exercise checkers of lesson 11 (fast solvers); registered on import."""

from __future__ import annotations

import math

import torch

from ..schedule import linear_schedule
from ._core import Verdict, _call, exercise


@exercise("11-coef")
def _check_11_coef(answer: object) -> Verdict:
    # answer: coef(lam_s, lam_t), the weight of x_theta in the first-order (DDIM) step.
    from ..dpm_solver import half_log_snr

    if not callable(answer):
        return False, "expected a function coef(lam_s, lam_t)"
    s = linear_schedule()
    lam, alpha = half_log_snr(s), s.alpha_bar.sqrt()
    for t_s, t_t in [(1000, 900), (500, 450), (100, 20), (20, 1), (1000, 1)]:
        h = float(lam[t_t] - lam[t_s])
        truth = -float(alpha[t_t]) * math.expm1(-h)
        value, error = _call(answer, float(lam[t_s]), float(lam[t_t]), convert=float)
        if error:
            return False, error
        if not math.isfinite(value) or abs(value - truth) > 1e-9 * max(1.0, abs(truth)):
            hint = (
                " (negative: check the sign of h = lam_t - lam_s)" if value < 0 else ""
            )
            return (
                False,
                f"not yet: from t = {t_s} to t = {t_t} you give {value:.6g}{hint}",
            )
    return True, "correct"


@exercise("11-2m")
def _check_11_2m(answer: object) -> Verdict:
    # answer: D(m_now, m_prev, r), the 2M combination; run a whole sampler built on it.
    from ..dpm_solver import dpm_solver_timesteps, half_log_snr, sample_dpm_solver
    from ..oracle import GaussianMixture

    if not callable(answer):
        return False, "expected a function D(m_now, m_prev, r)"
    s = linear_schedule()
    f64 = dict(dtype=torch.float64)
    gm = GaussianMixture(
        torch.tensor([[-1.0, -0.5], [1.0, 0.0], [0.0, 1.0]], **f64),
        torch.tensor([0.3, 0.4, 0.35], **f64),
        torch.tensor([0.3, 0.4, 0.3], **f64),
    )
    model = gm.eps_model(s)
    lam, alpha, sigma = half_log_snr(s), s.alpha_bar.sqrt(), (1 - s.alpha_bar).sqrt()
    grid = dpm_solver_timesteps(
        s, 8, spacing="uniform"
    ).tolist()  # unequal steps in lambda
    x = x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), **f64)
    m_prev = None
    try:
        for i, t in enumerate(grid[:-1]):
            m = (x - sigma[t] * model(x, t)) / alpha[t]
            t_next = grid[i + 1]
            h = float(lam[t_next] - lam[t])
            d = (
                m
                if m_prev is None
                else answer(m, m_prev, float(lam[t] - lam[grid[i - 1]]) / h)
            )
            x = sigma[t_next] / sigma[t] * x - alpha[t_next] * math.expm1(
                -h
            ) * torch.as_tensor(d)
            m_prev = m
        x = (x - sigma[grid[-1]] * model(x, grid[-1])) / alpha[grid[-1]]
    except Exception as error:  # the learner's function failed: say so, do not crash
        return False, f"your function raised {type(error).__name__}: {error}"
    truth = sample_dpm_solver(model, s, x_T, timesteps=grid, progress=False)
    if x.shape == truth.shape and torch.allclose(x, truth, rtol=1e-9, atol=1e-10):
        return True, "correct"
    return (
        False,
        "not yet: the samples differ from DPM-Solver++ 2M (is r = h_prev / h_now?)",
    )
