"""DPM-Solver++ (multistep, data prediction): a fast solver of the probability-flow ODE.

Time is measured by the half-log-SNR lambda_t = log(alpha_t / sigma_t) with
alpha_t = sqrt(alpha_bar_t), sigma_t = sqrt(1 - alpha_bar_t). In lambda the probability-flow
ODE has an exactly integrable linear part, and with the data prediction
x_theta(x_t, t) = (x_t - sigma_t eps_theta(x_t, t)) / alpha_t its solution is

    x_t = sigma_t / sigma_s x_s + sigma_t int_{lambda_s}^{lambda_t} e^lambda x_theta(x_lambda, lambda) dlambda

(Lu et al. 2022b, "DPM-Solver++", the exact solution in data prediction). The
solvers below approximate x_theta by a polynomial in lambda through the last 1 or 2 model
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
    progress: bool = True,
    return_trajectory: bool = False,
):
    """DPM-Solver++ multistep, data prediction (Lu et al. 2022b, "DPM-Solver++", Algorithm 2, 2M).

    On the grid t_0 > t_1 > ... > t_{M-1} (M = steps model calls) and then clean data,
    with h_i = lambda_{t_i} - lambda_{t_{i-1}} and x_theta_i = x_theta(x_{t_i}, t_i):
        first step and order 1 (= DDIM, eta = 0):
            x_{t_i} = sigma_{t_i} / sigma_{t_{i-1}} x_{t_{i-1}} - alpha_{t_i} (e^{-h_i} - 1) x_theta_{i-1}
        order 2 (2M), r_i = h_{i-1} / h_i:
            D_i     = (1 + 1 / (2 r_i)) x_theta_{i-1} - 1 / (2 r_i) x_theta_{i-2}
            x_{t_i} = sigma_{t_i} / sigma_{t_{i-1}} x_{t_{i-1}} - alpha_{t_i} (e^{-h_i} - 1) D_i
    Final step, to alpha_bar = 1 (sigma = 0, lambda = +inf): there h = inf, e^{-h} = 0 and
    the first-order update is exactly x_0 = x_theta(x_{t_{M-1}}, t_{M-1}), the last data
    prediction; the second-order one is undefined (r = 0). This is diffusers' default
    (final_sigmas_type="zero" forces a first-order last step), so with spacing="diffusers" a
    run matches DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_order=2)
    step for step. The grid is `dpm_solver_timesteps(s, steps, spacing=spacing)` unless
    `timesteps` (strictly descending, in 1..T) is given. x_T: (B, ...). Returns x_0 or
    (x_0, trajectory with "t", "x_t", "x0_hat"). Lesson 11.
    """
    check_samples(x_T, "x_T")
    if isinstance(order, bool) or not isinstance(order, numbers.Integral):
        raise ArgTypeError(f"order must be 1 or 2 (an int), got {order!r}")
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    check_bool(return_trajectory, "return_trajectory")
    grid = (
        check_grid(timesteps, s.T)
        if timesteps is not None
        else dpm_solver_timesteps(s, steps, spacing=spacing)
    )
    lam, ab = half_log_snr(s), s.alpha_bar
    alpha, sigma = ab.sqrt(), (1 - ab).sqrt()
    x, traj = x_T, {"t": [], "x_t": [], "x0_hat": []}
    x0_prev, t_prev = None, None  # the buffer Q of Alg. 2
    eps_theta, check_later_outputs = watch_model(eps_theta, "eps_theta")
    for i, t in enumerate(_progress(grid.tolist(), disable=not progress)):
        tt = torch.full((x.shape[0],), t, dtype=torch.int64, device=x.device)
        x0_hat = (x - sigma[t].item() * eps_theta(x, tt)) / alpha[
            t
        ].item()  # data prediction x_theta
        if return_trajectory:
            traj["t"].append(t), traj["x_t"].append(x), traj["x0_hat"].append(x0_hat)
        if i == len(grid) - 1:
            x = x0_hat  # last step to sigma = 0: x_0 = x_theta
            break
        t_next = int(grid[i + 1])
        h = (lam[t_next] - lam[t]).item()
        if order == 1 or x0_prev is None:
            D = x0_hat  # Alg. 2, line 4 (first step)
        else:
            r = (lam[t] - lam[t_prev]).item() / h  # Alg. 2, line 7
            D = (1 + 1 / (2 * r)) * x0_hat - 1 / (2 * r) * x0_prev  # Alg. 2, line 8
        x = (sigma[t_next] / sigma[t]).item() * x - alpha[t_next].item() * math.expm1(
            -h
        ) * D  # line 9
        x0_prev, t_prev = x0_hat, t
    check_later_outputs()  # one host read: did eps_theta return NaN or inf on the way?
    return (x, traj) if return_trajectory else x
