"""DPM-Solver++ (multistep, data prediction): a fast solver of the probability-flow ODE.

Time is measured by the half-log-SNR lambda_t = log(alpha_t / sigma_t) with
alpha_t = sqrt(alpha_bar_t), sigma_t = sqrt(1 - alpha_bar_t). In lambda the probability-flow
ODE has an exactly integrable linear part, and with the data prediction
x_theta(x_t, t) = (x_t - sigma_t eps_theta(x_t, t)) / alpha_t its solution is

    x_t = sigma_t / sigma_s x_s + sigma_t int_{lambda_s}^{lambda_t} e^lambda x_theta(x_lambda, lambda) dlambda

(Lu et al. 2022b, "DPM-Solver++", the exact solution in data prediction). The
solvers below approximate x_theta by a polynomial in lambda through the last 1, 2 or 3 model
outputs. Lesson 11 (fast solvers).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor

from ._checks import (
    ArgTypeError,
    check_bool,
    check_choice,
    check_positive_int,
    check_samples,
    watch_model,
)
from .samplers import EpsModel, _distinct_ascending, _progress, check_grid
from .schedule import Schedule

DPM_SPACINGS = ("diffusers", "logsnr", "uniform")


def half_log_snr(s: Schedule) -> Tensor:
    """lambda_t = log(sqrt(alpha_bar_t) / sqrt(1 - alpha_bar_t)), float64 (T+1,); lambda_0 = +inf."""
    return 0.5 * (s.alpha_bar.log() - (1 - s.alpha_bar).log())


def dpm_solver_timesteps(
    s: Schedule, steps: int, *, spacing: str = "diffusers"
) -> Tensor:
    """A descending grid of `steps` paper timesteps in 1..T, where the model is evaluated.

      "diffusers": 1 + round(k (T - 1) / steps) for k = steps..1, i.e. steps + 1 points of
                   linspace(0, T - 1) rounded, reversed, the last (0) dropped: diffusers'
                   DPMSolverMultistepScheduler default (timestep_spacing="linspace") + 1.
      "uniform"  : 1 + round(k (T - 1) / (steps - 1)), k = steps-1..0: from T down to 1
                   (steps = 1 gives [T]).
      "logsnr"   : lambda uniform from lambda_T to lambda_1 (the spacing DPM-Solver
                   recommends), each point mapped to the timestep with the nearest lambda.
    round() is numpy's, in float64 (as diffusers computes it). Where rounding repeats a
    timestep (too many steps for T), the repeat is moved to the nearest free timestep so the
    grid stays strictly descending. The solver
    then takes one last step to clean data, see `sample_dpm_solver`. Lesson 11.
    """
    check_positive_int(steps, "steps")
    check_choice(spacing, DPM_SPACINGS, "spacing")
    T = s.T
    if steps > T:
        raise ValueError(f"steps must be an integer in 1..T={T}, got {steps}")
    if spacing == "diffusers":
        t = (1 + np.linspace(0, T - 1, steps + 1).round()[1:]).astype(np.int64).tolist()
    elif spacing == "uniform":
        t = (1 + np.linspace(T - 1, 0, steps).round()).astype(np.int64).tolist()
    else:
        lam = half_log_snr(s)[1:]  # (T,), decreasing in t
        target = torch.linspace(
            float(lam[-1]), float(lam[0]), steps, dtype=torch.float64
        )
        t = [1 + int((lam - v).abs().argmin()) for v in target.flip(0)]
    return torch.tensor(_distinct_ascending(t, T), dtype=torch.int64).flip(0)


@torch.no_grad()
def sample_dpm_solver(
    eps_theta: EpsModel,
    s: Schedule,
    x_T: Tensor,
    *,
    steps: int = 20,
    order: int = 2,
    spacing: str = "diffusers",
    timesteps: Iterable[int] | Tensor | None = None,
    lower_order_final: bool = True,
    progress: bool = True,
    return_trajectory: bool = False,
):
    """DPM-Solver++ multistep, data prediction (Lu et al. 2022b, "DPM-Solver++", Alg. 2: 2M; 3M).

    On the grid t_0 > t_1 > ... > t_{M-1} (M = steps model calls) and then clean data,
    with h_i = lambda_{t_i} - lambda_{t_{i-1}}, m_j = x_theta(x_{t_j}, t_j) and
    E = alpha_{t_i} (e^{-h_i} - 1), step i - 1 -> i is
        x_{t_i} = sigma_{t_i} / sigma_{t_{i-1}} x_{t_{i-1}} - E D
    order 1 (= DDIM, eta = 0):  D = m_{i-1}
    order 2 (2M), r = h_{i-1} / h_i:
        D = (1 + 1 / (2 r)) m_{i-1} - 1 / (2 r) m_{i-2}
    order 3 (3M), r0 = h_{i-1} / h_i, r1 = h_{i-2} / h_i:
        D1_0 = (m_{i-1} - m_{i-2}) / r0,  D1_1 = (m_{i-2} - m_{i-3}) / r1
        D1 = D1_0 + r0 / (r0 + r1) (D1_0 - D1_1),  D2 = (D1_0 - D1_1) / (r0 + r1)
        x_{t_i} = sigma_{t_i} / sigma_{t_{i-1}} x_{t_{i-1}} - E m_{i-1}
                  + alpha_{t_i} ((e^{-h_i} - 1) / h_i + 1) D1
                  - alpha_{t_i} ((e^{-h_i} - 1 + h_i) / h_i^2 - 1/2) D2
    (the Taylor terms of the exact solution above, as the DPM-Solver++ reference code
    writes them). The first steps use the orders their past outputs allow (1, then 2).
    Final step, to alpha_bar = 1 (sigma = 0, lambda = +inf): there h = inf, e^{-h} = 0 and
    the first-order update is exactly x_0 = x_theta(x_{t_{M-1}}, t_{M-1}), the last data
    prediction; the higher orders are undefined (r = 0). With `lower_order_final` and fewer
    than 15 steps, the step before it uses at most order 2 as well. These are diffusers'
    rules (final_sigmas_type="zero", lower_order_final=True), so with spacing="diffusers" a
    run matches DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_order=order)
    step for step. The grid is `dpm_solver_timesteps(s, steps, spacing=spacing)` unless
    `timesteps` (strictly descending, in 1..T) is given. x_T: (B, ...). Returns x_0 or
    (x_0, trajectory with "t", "x_t", "x0_hat"). Lesson 11.
    """
    check_samples(x_T, "x_T")
    if isinstance(order, bool) or not isinstance(order, numbers.Integral):
        raise ArgTypeError(f"order must be 1, 2 or 3 (an int), got {order!r}")
    if order not in (1, 2, 3):
        raise ValueError(f"order must be 1, 2 or 3, got {order!r}")
    check_bool(lower_order_final, "lower_order_final")
    check_bool(return_trajectory, "return_trajectory")
    grid = (
        check_grid(timesteps, s.T)
        if timesteps is not None
        else dpm_solver_timesteps(s, steps, spacing=spacing)
    )
    lam, ab = half_log_snr(s), s.alpha_bar
    alpha, sigma = ab.sqrt(), (1 - ab).sqrt()
    x, traj = x_T, {"t": [], "x_t": [], "x0_hat": []}
    m, t_past = [], []  # the buffer Q of Alg. 2: the newest data prediction last
    M = len(grid)
    eps_theta, check_later_outputs = watch_model(eps_theta, "eps_theta")
    for i, t in enumerate(_progress(grid.tolist(), disable=not progress)):
        tt = torch.full((x.shape[0],), t, dtype=torch.int64, device=x.device)
        x0_hat = (x - sigma[t].item() * eps_theta(x, tt)) / alpha[
            t
        ].item()  # data prediction x_theta
        if return_trajectory:
            traj["t"].append(t), traj["x_t"].append(x), traj["x0_hat"].append(x0_hat)
        if i == M - 1:
            x = x0_hat  # last step to sigma = 0: x_0 = x_theta
            break
        m, t_past = (m + [x0_hat])[-3:], (t_past + [t])[-3:]
        now = min(
            order, len(m), 2 if lower_order_final and M < 15 and i == M - 2 else 3
        )
        x = _dpm_solver_pp_update(
            x, m, t_past, int(grid[i + 1]), now, lam, alpha, sigma
        )
    check_later_outputs()  # one host read: did eps_theta return NaN or inf on the way?
    return (x, traj) if return_trajectory else x


def _dpm_solver_pp_update(
    x: Tensor,
    m: list,
    t_past: list,
    t_next: int,
    order: int,
    lam: Tensor,
    alpha: Tensor,
    sigma: Tensor,
) -> Tensor:
    """One step of order 1, 2 or 3 from t_past[-1] to t_next (see `sample_dpm_solver`)."""
    t = t_past[-1]
    h = (lam[t_next] - lam[t]).item()
    e, a = math.expm1(-h), alpha[t_next].item()  # e^{-h} - 1, alpha_{t_next}
    x = (sigma[t_next] / sigma[t]).item() * x
    if order == 1:
        return x - a * e * m[-1]  # Alg. 2, line 4 (first step)
    r0 = (lam[t] - lam[t_past[-2]]).item() / h  # Alg. 2, line 7
    if order == 2:
        return x - a * e * ((1 + 1 / (2 * r0)) * m[-1] - 1 / (2 * r0) * m[-2])  # line 8
    r1 = (lam[t_past[-2]] - lam[t_past[-3]]).item() / h
    D1_0, D1_1 = (m[-1] - m[-2]) / r0, (m[-2] - m[-3]) / r1
    D1 = D1_0 + r0 / (r0 + r1) * (D1_0 - D1_1)
    D2 = (D1_0 - D1_1) / (r0 + r1)
    return x - a * e * m[-1] + a * (e / h + 1) * D1 - a * ((e + h) / h**2 - 0.5) * D2
