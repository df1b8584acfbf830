"""Noise schedules: beta_t, alpha_t, alpha_bar_t and the posterior variance beta_tilde_t.

Index convention (the paper's): t runs over 1..T. Every table has length T+1 and
index 0 means clean data, so `s.alpha_bar[t]` is alpha_bar_t exactly as printed in
Ho et al. 2020. Derived in lesson 01.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

from ._checks import check_open_interval, check_positive_int, check_real


@dataclass(frozen=True, eq=False)
class Schedule:
    """A variance schedule as float64 tables of length T+1 (index 0 = clean data).

        beta[t]       = beta_t,                                beta[0] = 0
        alpha[t]      = 1 - beta_t,                            alpha[0] = 1
        alpha_bar[t]  = prod_{s=1..t} alpha_s,                 alpha_bar[0] = 1
        beta_tilde[t] = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t,
                        beta_tilde[0] = 0 and beta_tilde[1] = 0

    Ho et al. 2020, Eq. 4 (alpha_bar) and Eq. 7 (beta_tilde). `alpha_bar` is what
    diffusers calls `alphas_cumprod` (its index i is our t = i + 1) and what the DDIM
    paper (Song et al. 2021a) writes as alpha_t. Build one with `Schedule.from_beta`.
    Derived in lessons 01 (alpha_bar) and 02 (beta_tilde).
    """

    beta: Tensor
    alpha: Tensor
    alpha_bar: Tensor
    beta_tilde: Tensor

    @property
    def T(self) -> int:
        """Number of diffusion steps."""
        return self.beta.shape[0] - 1

    @classmethod
    def from_beta(cls, beta: Tensor | Iterable[float]) -> Schedule:
        """Build all tables from beta_1..beta_T (shape (T,), each in (0, 1))."""
        beta = torch.as_tensor(beta, dtype=torch.float64).detach().cpu()
        if beta.ndim != 1 or beta.shape[0] < 1:
            raise ValueError(
                f"beta must be a 1-D sequence of T >= 1 values, got shape "
                f"{tuple(beta.shape)}"
            )
        check_open_interval(beta, 0.0, 1.0, "beta")
        beta = torch.cat([beta.new_zeros(1), beta])  # (T+1,), beta[0] = 0
        alpha = 1.0 - beta
        alpha_bar = torch.cumprod(alpha, dim=0)  # Eq. 4
        beta_tilde = torch.zeros_like(beta)
        beta_tilde[1:] = (
            (1.0 - alpha_bar[:-1]) / (1.0 - alpha_bar[1:]) * beta[1:]
        )  # Eq. 7
        return cls(beta=beta, alpha=alpha, alpha_bar=alpha_bar, beta_tilde=beta_tilde)


def gather(table: Tensor, t: Tensor, x: Tensor) -> Tensor:
    """table[t] reshaped to (B, 1, ..., 1) to broadcast over x, in x's dtype and device.

    table: float64 of length T+1; t: int64 of shape (B,). Values are looked up in
    float64 and only then cast, so bfloat16 inputs get correctly rounded coefficients.
    Raises ValueError for an index outside 0..T (a negative one would wrap around to the end)
    and for integer x (the coefficients would be truncated to 0).
    """
    if not x.is_floating_point():
        raise ValueError(
            f"x must be a floating-point tensor, got {x.dtype}: convert it first (x.float())"
        )
    t = t.to(table.device)
    if t.device.type == "cpu" and t.numel() and (t.min() < 0 or t.max() >= len(table)):
        raise ValueError(
            f"t must be in 0..T={len(table) - 1} here, got values in "
            f"{int(t.min())}..{int(t.max())}"
        )
    values = table[t]  # (B,)
    return values.to(device=x.device, dtype=x.dtype).reshape(-1, *([1] * (x.ndim - 1)))


def linear_schedule(
    T: int = 1000, beta_1: float = 1e-4, beta_T: float = 0.02
) -> Schedule:
    """beta_t rising linearly from beta_1 to beta_T (Ho et al. 2020, Sec. 4).

        beta_t = beta_1 + (t - 1) / (T - 1) * (beta_T - beta_1),   t = 1..T

    The paper uses T = 1000, beta_1 = 1e-4, beta_T = 0.02. Derived in lesson 01.
    """
    check_positive_int(T, "T")
    check_open_interval(beta_1, 0.0, 1.0, "beta_1")
    check_open_interval(beta_T, 0.0, 1.0, "beta_T")
    return Schedule.from_beta(torch.linspace(beta_1, beta_T, T, dtype=torch.float64))


def cosine_schedule(
    T: int = 1000, s: float = 0.008, max_beta: float = 0.999
) -> Schedule:
    """The cosine schedule of Nichol & Dhariwal 2021, Eq. 17.

        f(t)        = cos^2( (t/T + s) / (1 + s) * pi/2 )
        alpha_bar_t = f(t) / f(0)
        beta_t      = min(1 - alpha_bar_t / alpha_bar_{t-1}, max_beta)

    Clipping beta_t at max_beta (their choice: 0.999) avoids the singularity at t = T,
    where f(T) = 0; alpha_bar is then rebuilt from the clipped betas, so it differs
    from f(t)/f(0) only after a clipped step. diffusers calls this "squaredcos_cap_v2".
    Derived in lesson 01.
    """
    check_positive_int(T, "T")
    check_real(s, "s", 0.0)
    check_open_interval(max_beta, 0.0, 1.0, "max_beta")
    steps = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((steps / T + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]  # Eq. 17
    beta = (1.0 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)
    return Schedule.from_beta(beta)


def respace(s: Schedule, timesteps: Iterable[int]) -> tuple[Schedule, Tensor]:
    """Keep only some timesteps, with alpha_bar unchanged at the kept ones.

    With kept steps k_1 < ... < k_N (sorted; k_0 = 0), the new schedule has
        new alpha_bar_i = alpha_bar[k_i]
        new beta_i      = 1 - alpha_bar[k_i] / alpha_bar[k_{i-1}],   i = 1..N
    so x_i of the new chain has the same marginal q(x_{k_i} | x_0) (Eq. 4) as the old.
    Returns (new schedule, t_map) with t_map int64 of length N+1, t_map[0] = 0 and
    t_map[i] = k_i: a model trained on the original t is called at t_map[i].
    Nichol & Dhariwal 2021, Sec. 4. Derived in lesson 04.
    """
    steps = torch.as_tensor(list(timesteps))
    if (
        steps.ndim != 1
        or steps.numel() == 0
        or steps.is_floating_point()
        or steps.dtype == torch.bool
    ):
        raise ValueError(
            f"timesteps must be a non-empty sequence of integers in 1..T={s.T}"
        )
    steps = steps.to(torch.int64).sort().values
    if (
        int(steps[0]) < 1
        or int(steps[-1]) > s.T
        or bool((steps[1:] == steps[:-1]).any())
    ):
        raise ValueError(
            f"timesteps must be distinct integers in 1..T={s.T}, got "
            f"{steps.tolist()[:10]}{'...' if steps.numel() > 10 else ''}"
        )
    t_map = torch.cat([steps.new_zeros(1), steps])  # (N+1,), t_map[0] = 0
    alpha_bar = s.alpha_bar[t_map]
    beta = 1.0 - alpha_bar[1:] / alpha_bar[:-1]
    return Schedule.from_beta(beta), t_map
