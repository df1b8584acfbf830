"""Exact log-likelihoods through the probability-flow ODE, in nats and in bits per dimension.

The probability-flow ODE (Song et al. 2021b, Eq. 13) is a continuous normalizing flow, so
the instantaneous change of variables (Chen et al. 2018, Theorem 1) gives log p_0 exactly,
up to the ODE solver's tolerance (Song et al. 2021b, Sec. 4.3 and Appendix D.2). Lesson 10.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch
from torch import Tensor

from ._checks import (
    ArgTypeError,
    check_bool,
    check_choice,
    check_finite,
    check_floating,
    check_int,
    check_positive_int,
    check_real,
    check_samples,
    watch_model,
)
from .sde import SDE, ScoreFn, pf_ode_drift, prior_log_prob, solve_ivp_torch

DIVERGENCES = ("exact", "hutchinson")
PROBES = ("rademacher", "gaussian")


def _divergence_exact(
    fn: Callable[[Tensor], Tensor], x: Tensor
) -> tuple[Tensor, Tensor]:
    """fn(x) and its divergence sum_d d fn_d / d x_d by autograd, one backward pass per d.

    x: (B, D); fn acts on each row separately, so the batch can be summed before each pass.
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        out = fn(x)  # (B, D)
        div = sum(
            torch.autograd.grad(out[:, d].sum(), x, retain_graph=True)[0][:, d]
            for d in range(x.shape[1])
        )
    return out.detach(), div.detach()


def _divergence_hutchinson(
    fn: Callable[[Tensor], Tensor], x: Tensor, v: Tensor
) -> tuple[Tensor, Tensor]:
    """fn(x) and the Hutchinson estimate v^T (d fn / dx) v of its divergence (one backward pass)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        out = fn(x)
        (vjp,) = torch.autograd.grad((out * v).sum(), x)  # v^T J, (B, D)
    return out.detach(), (vjp * v).sum(1).detach()


def ode_log_likelihood(
    score_fn: ScoreFn,
    sde: SDE,
    x_0: Tensor,
    *,
    divergence: str = "exact",
    probe: str | Tensor = "rademacher",
    t_eps: float = 1e-5,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    generator: torch.Generator | None = None,
) -> Tensor:
    """log p_0(x_0) in nats per example, by the instantaneous change of variables.

    Along the probability-flow ODE dx/dt = f~(x, t) (`pf_ode_drift`, Eq. 13),
        d log p_t(x(t)) / dt = -div f~(x(t), t)                   (Chen et al. 2018, Thm. 1)
        log p_0(x(0)) = log p_1(x(1)) + int_0^1 div f~(x(t), t) dt  (Song et al. 2021b, App. D.2)
    so [x, int div f~] is integrated from t_eps to 1 with RK45 and log N(x(1); 0, prior_std^2 I)
    is added. x_0 is treated as a draw of p_{t_eps} (std(t_eps) ~ 3e-3 for the VP SDE).

    divergence="exact": autograd, one backward pass per dimension (for low dimension D).
    divergence="hutchinson": div f~ ~ v^T (d f~ / dx) v with one probe v per example drawn
    once per solve (Rademacher +-1 or N(0, I); Hutchinson 1989, Grathwohl et al. 2019).
    Unbiased: E[v v^T] = I and the path x(t) does not depend on v. `probe` names the
    distribution v is drawn from with `generator`, or is v itself, a tensor of x_0's shape,
    so that an estimate can be reproduced exactly. x_0: (B, ...). Returns (B,).
    """
    check_choice(divergence, DIVERGENCES, "divergence")
    check_samples(x_0, "x_0")
    if isinstance(probe, Tensor):
        if divergence != "hutchinson":
            raise ValueError(
                'a probe tensor needs divergence="hutchinson"; the exact divergence uses none'
            )
        if check_floating(probe, "probe").shape != x_0.shape:
            raise ValueError(
                f"probe must have x_0's shape {tuple(x_0.shape)}, got {tuple(probe.shape)}"
            )
        check_finite(probe, "probe")
    else:
        check_choice(probe, PROBES, "probe")
    check_real(t_eps, "t_eps", 0.0, 1.0, open_low=True, open_high=True)
    check_real(rtol, "rtol", 0.0, open_low=True)
    check_real(atol, "atol", 0.0, open_low=True)
    score_fn, check_later_outputs = watch_model(score_fn, "score_fn")
    B, shape = x_0.shape[0], x_0.shape
    if isinstance(probe, Tensor):
        v = probe.reshape(B, -1).to(x_0.device, x_0.dtype)  # (B, D), fixed
    else:
        v = torch.randn(B, math.prod(shape[1:]), generator=generator, dtype=x_0.dtype)
        v = (v.sign() if probe == "rademacher" else v).to(x_0.device)  # (B, D), fixed

    def fun(t: float, y: Tensor) -> Tensor:  # y = [x (B*D), delta (B)]
        x = y[:-B].reshape(B, -1)

        def fn(x: Tensor) -> Tensor:
            return pf_ode_drift(score_fn, sde, x.reshape(shape), t).reshape(B, -1)

        dx, div = (
            _divergence_exact(fn, x)
            if divergence == "exact"
            else _divergence_hutchinson(fn, x, v)
        )
        return torch.cat([dx.reshape(-1), div.to(dx.dtype)])

    y0 = torch.cat([x_0.reshape(-1), x_0.new_zeros(B)])
    try:
        y1, _ = solve_ivp_torch(fun, y0, (t_eps, 1.0), rtol=rtol, atol=atol)
    finally:  # a NaN makes the solver fail: name it rather than the failure
        check_later_outputs()
    x_1, delta = y1[:-B].reshape(shape), y1[-B:]
    return prior_log_prob(sde, x_1) + delta.double()


def _check_bins(bins: int) -> None:
    check_int(bins, "bins", 2)


def bits_per_dim(log_p: Tensor, D: int, *, bins: int = 256) -> Tensor:
    """Bits per dimension of discrete data from the density log p(y) of its [-1, 1] rescaling.

        pixel k in {0, ..., bins-1}  ->  y = 2 k / (bins - 1) - 1,  grid spacing Delta = 2 / (bins - 1)
        bpd = -log p(y) / (D ln 2) - log2(Delta) = -log p(y) / (D ln 2) + log2((bins - 1) / 2)

    Why: with uniform dequantisation y~ = y + Delta (u - 1/2), u ~ U[0, 1)^D, each cube of
    side Delta around a grid point gives int_cube p = Delta^D E_u[p(y~)] >= Delta^D exp
    E_u[log p(y~)] (Jensen, cell by cell). The cubes cover only [-1 - Delta/2, 1 + Delta/2]^D;
    a discrete model whose edge cells are open (all mass beyond the last level goes to it,
    as the decoder of Ho et al. does) has P(k) >= int_cube p, so -log2 P(k) / D is at most
    the value above averaged over u. For bins = 256 the offset is log2(127.5) = 6.994 (Song et al.'s
    code adds 7 = log2(256 / 2) as it dequantises (k + u) / 256, a cell of width 2/256).
    """
    _check_bins(bins)
    check_positive_int(D, "D")
    if isinstance(log_p, bool) or not isinstance(log_p, (Tensor, numbers.Real)):
        raise ArgTypeError(f"log_p must be a tensor or a number, got {log_p!r:.60}")
    return -log_p / (D * math.log(2)) + math.log2((bins - 1) / 2)


def ode_bits_per_dim(
    score_fn: ScoreFn,
    sde: SDE,
    x_0: Tensor,
    *,
    bins: int = 256,
    dequantize: bool = True,
    generator: torch.Generator | None = None,
    **kwargs,
) -> Tensor:
    """Bits per dimension of discrete data x_0 on the grid -1 + 2 k / (bins - 1) (see `bits_per_dim`).

    With dequantize, x_0 + Delta (u - 1/2) is scored, an upper bound on -log2 P(k) / D in
    expectation over u. kwargs go to `ode_log_likelihood`. x_0: (B, ...). Returns (B,).
    """
    _check_bins(bins)
    check_samples(x_0, "x_0")
    if check_bool(dequantize, "dequantize"):
        u = torch.rand(x_0.shape, generator=generator, dtype=x_0.dtype).to(x_0.device)
        x_0 = x_0 + 2 / (bins - 1) * (u - 0.5)
    log_p = ode_log_likelihood(score_fn, sde, x_0, generator=generator, **kwargs)
    return bits_per_dim(log_p, math.prod(x_0.shape[1:]), bins=bins)
