"""UniPC: a unified predictor-corrector for the probability-flow ODE (Zhao et al. 2023).

It works in the same variables as DPM-Solver++ (`ddpm_lite.dpm_solver`): the half-log-SNR
lambda_t = log(alpha_t / sigma_t) and the data prediction m = x_theta(x_t, t). A step from
s to t (h = lambda_t - lambda_s > 0) keeps DPM-Solver++'s first-order part and adds a
combination of the differences of past data predictions,

    x_t = sigma_t / sigma_s x_s - alpha_t (e^{-h} - 1) m_s - alpha_t B(h) sum_k rho_k D_k,
    D_k = (m_{s_k} - m_s) / r_k,  r_k = (lambda_{s_k} - lambda_s) / h,

whose weights rho solve a small linear system that matches the Taylor expansion of the exact
solution. The predictor (UniP) takes the differences to earlier points s_k; the corrector (UniC)
adds the model's output at t itself (r = 1), which the next step needs anyway, so it raises
the order by one without an extra model call. B(h) is the free function of the family; with
hh = -h, B = hh ("bh1") or e^hh - 1 ("bh2"). Lesson 11.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

from ._checks import (
    check_bool,
    check_choice,
    check_int,
    check_samples,
    watch_model,
)
from .dpm_solver import dpm_solver_timesteps, half_log_snr
from .samplers import EpsModel, _progress, check_grid
from .schedule import Schedule

UNIPC_VARIANTS = ("bh1", "bh2")


def unipc_weights(rs: list[float], h: float, variant: str) -> tuple[list[float], float]:
    """(rho, B(h)) for one UniPC update of order len(rs).

    rs are the ratios r_k = (lambda_{s_k} - lambda_s) / h of the points whose differences the
    update uses, the corrector's own point (r = 1) last. With hh = -h, the weights solve

        sum_k rho_k r_k^(j-1) = j! hh phi_{j+1}(hh) / B(h),   j = 1..len(rs),

    phi_1(z) = (e^z - 1) / z and phi_{j+1}(z) = (phi_j(z) - 1/j!) / z (the Taylor terms of the
    exact solution), with B(h) = hh (bh1) or e^hh - 1 (bh2). A single weight is 1/2 (as in
    the paper: UniP-2 and UniC-1 use it instead of solving). Float64 throughout.
    """
    hh = -h
    B = hh if variant == "bh1" else math.expm1(hh)
    if len(rs) == 1:
        return [0.5], B
    # g_j = hh phi_{j+1}(hh): g_1 = (e^hh - 1) / hh - 1, g_{j+1} = g_j / hh - 1 / (j+1)!
    g, b = math.expm1(hh) / hh - 1, []
    for j in range(1, len(rs) + 1):
        b.append(g * math.factorial(j) / B)
        g = g / hh - 1 / math.factorial(j + 1)
    R = [[r ** (j - 1) for r in rs] for j in range(1, len(rs) + 1)]
    f64 = dict(dtype=torch.float64)
    rho = torch.linalg.solve(torch.tensor(R, **f64), torch.tensor(b, **f64))
    return rho.tolist(), B


@torch.no_grad()
def sample_unipc(
    eps_theta: EpsModel,
    s: Schedule,
    x_T: Tensor,
    *,
    steps: int = 20,
    order: int = 2,
    variant: str = "bh2",
    corrector: bool = True,
    spacing: str = "diffusers",
    timesteps: Iterable[int] | Tensor | None = None,
    lower_order_final: bool = True,
    progress: bool = True,
    return_trajectory: bool = False,
):
    """UniPC multistep in data prediction: UniP-p with UniC after every model call but the first.

    On the grid t_0 > ... > t_{M-1} (M = steps model calls) and then clean data:
      1. call the model at x_{t_i}, m_i = x_theta(x_{t_i}, t_i);
      2. (UniC, i >= 1, if `corrector`) redo the step t_{i-1} -> t_i with m_i included, at the
         order p of the predictor that made x_{t_i}: weights `unipc_weights` over the ratios of
         t_{i-2}, ..., t_{i-p} and 1; the model is not called again, so m_i stays as it was;
      3. (UniP) step to t_{i+1} at order p = min(order, i + 1) from m_i, m_{i-1}, ...: weights
         over the ratios of t_{i-1}, ..., t_{i-p+1} (p = 2 uses rho = 1/2).
    The step to clean data (sigma = 0, h = inf) is of order 1, x_0 = m_{M-1}, as in
    `sample_dpm_solver`. With `lower_order_final` the step from t_i has order at most M - i
    (diffusers' rule, which for UniPC has no 15-step threshold). order=1 without the corrector
    is DDIM (eta = 0) on the grid. With spacing="diffusers" a run matches diffusers'
    UniPCMultistepScheduler(solver_order=order, solver_type=variant, predict_x0=True)
    step for step (disable_corrector=[0..M-1] when corrector=False). The grid is
    `dpm_solver_timesteps(s, steps, spacing=spacing)` unless `timesteps` (strictly descending,
    in 1..T) is given. x_T: (B, ...). Returns x_0 or (x_0, trajectory with "t", "x_t" where the
    model was called, before the corrector moved it, and "x0_hat"). Lesson 11.
    """
    check_samples(x_T, "x_T")
    check_int(order, "order", 1, 3, bounds="1, 2 or 3")
    check_choice(variant, UNIPC_VARIANTS, "variant")
    for flag, name in (
        (corrector, "corrector"),
        (lower_order_final, "lower_order_final"),
        (return_trajectory, "return_trajectory"),
    ):
        check_bool(flag, name)
    grid = (
        check_grid(timesteps, s.T)
        if timesteps is not None
        else dpm_solver_timesteps(s, steps, spacing=spacing)
    ).tolist()
    lam, ab = half_log_snr(s).tolist(), s.alpha_bar
    alpha, sigma = ab.sqrt().tolist(), (1 - ab).sqrt().tolist()
    M = len(grid)

    def update(x_s, m, ts, t, rs, m_t=None):
        # one UniP (m_t None) or UniC step from ts[-1] to t; m, ts: past outputs, newest last
        h = lam[t] - lam[ts[-1]]
        x = sigma[t] / sigma[ts[-1]] * x_s - alpha[t] * math.expm1(-h) * m[-1]
        if not rs:
            return x
        rho, B = unipc_weights(rs, h, variant)
        n_past = len(rs) - (m_t is not None)
        diffs = [(m[-1 - k] - m[-1]) / rs[k - 1] for k in range(1, n_past + 1)]
        if m_t is not None:
            diffs.append(m_t - m[-1])  # r = 1
        return x - alpha[t] * B * sum(w * d for w, d in zip(rho, diffs))

    def ratios(ts, t, p, with_new):
        # r_k for the p - 1 past points before ts[-1], and 1 for t itself (the corrector)
        h = lam[t] - lam[ts[-1]]
        rs = [(lam[ts[-1 - k]] - lam[ts[-1]]) / h for k in range(1, p)]
        return rs + [1.0] if with_new else rs

    x, traj = x_T, {"t": [], "x_t": [], "x0_hat": []}
    m, ts, x_prev, p_prev = [], [], None, 0
    eps_theta, check_later_outputs = watch_model(eps_theta, "eps_theta")
    for i, t in enumerate(_progress(grid, disable=not progress)):
        tt = torch.full((x.shape[0],), t, dtype=torch.int64, device=x.device)
        x0_hat = (x - sigma[t] * eps_theta(x, tt)) / alpha[t]  # data prediction x_theta
        if return_trajectory:
            traj["t"].append(t), traj["x_t"].append(x), traj["x0_hat"].append(x0_hat)
        if i == M - 1:  # last step to sigma = 0: x_0 = x_theta (a correction of x
            x = x0_hat  # would be multiplied by sigma_0 = 0)
            break
        if corrector and i > 0:  # UniC: the step t_{i-1} -> t_i again, with m_i
            x = update(x_prev, m, ts, t, ratios(ts, t, p_prev, True), m_t=x0_hat)
        m, ts = (m + [x0_hat])[-3:], (ts + [t])[-3:]
        p = min(order, i + 1, M - i if lower_order_final else 3)
        t_next = grid[i + 1]
        x_prev, p_prev = x, p
        x = update(x, m, ts, t_next, ratios(ts, t_next, p, False))
    check_later_outputs()  # one host read: did eps_theta return NaN or inf on the way?
    return (x, traj) if return_trajectory else x
