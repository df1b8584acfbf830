"""Langevin dynamics: sampling from a density when only its score is known.

With a score s(x) = grad_x log p(x) (not grad_x p: the normalising constant drops out),
the chain x <- x + (eps/2) s(x) + sqrt(eps) z has p as its stationary law as eps -> 0
(Welling & Teh 2011; Song & Ermon 2019, Eq. 4). Annealing the noise level of a
noise-conditional score from large to small lets the chain cross between modes and weigh
them correctly (Song & Ermon 2019, Algorithm 1). Derived in lesson 09.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ._checks import (
    ArgTypeError,
    check_int,
    check_positive_int,
    check_real,
    check_samples,
    watch_model,
)
from ._noise import randn_like


def _check_step(value: float, name: str) -> float:
    return check_real(value, name, 0.0, open_low=True)


@torch.no_grad()
def langevin(
    score_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    step_size: float,
    n_steps: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Unadjusted Langevin dynamics (Song & Ermon 2019, Eq. 4; Welling & Teh 2011).

        x_{k+1} = x_k + (eps / 2) grad_x log p(x_k) + sqrt(eps) z_k,   z_k ~ N(0, I)

    eps = step_size. For eps > 0 the chain is biased (for N(0, s^2) its stationary variance
    is s^2 / (1 - eps / (4 s^2))); the bias vanishes as eps -> 0. x: (B, ...), the start.
    Returns x after n_steps steps.
    """
    check_samples(x, "x")
    step_size = _check_step(step_size, "step_size")
    check_positive_int(n_steps, "n_steps")
    score_fn, check_later_outputs = watch_model(score_fn, "score_fn", arg=None)
    for _ in range(n_steps):
        z = randn_like(x, generator)
        x = x + 0.5 * step_size * score_fn(x) + math.sqrt(step_size) * z  # Eq. 4
    check_later_outputs()  # one host read: did score_fn return NaN or inf on the way?
    return x


def noise_ladder(sigma_1: float, sigma_L: float, L: int) -> Tensor:
    """L noise levels falling geometrically from sigma_1 to sigma_L, float64 (L,).

        sigma_i = sigma_1 (sigma_L / sigma_1)^((i - 1) / (L - 1)),   i = 1..L

    Geometric, as in Song & Ermon 2019, Sec. 4.1 (their experiments: sigma_1 = 1, sigma_L = 0.01, L = 10).
    """
    sigma_1, sigma_L = _check_step(sigma_1, "sigma_1"), _check_step(sigma_L, "sigma_L")
    check_int(L, "L", 2)
    if not sigma_1 > sigma_L:
        raise ValueError(
            f"sigma_1 must be > sigma_L (the ladder goes down), got {sigma_1} <= {sigma_L}"
        )
    return torch.logspace(
        math.log10(sigma_1), math.log10(sigma_L), L, dtype=torch.float64
    )


@torch.no_grad()
def annealed_langevin(
    score_fn: Callable[[Tensor, float], Tensor],
    x: Tensor,
    sigmas: Sequence[float] | Tensor,
    *,
    eps: float = 2e-5,
    steps_per_level: int = 100,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Annealed Langevin dynamics (Song & Ermon 2019, Algorithm 1).

        for i = 1..L:  alpha_i = eps * sigma_i^2 / sigma_L^2
            repeat steps_per_level times:
                x <- x + (alpha_i / 2) s(x, sigma_i) + sqrt(alpha_i) z,   z ~ N(0, I)

    score_fn(x, sigma) ~ grad_x log p_sigma(x), the score of the data convolved with
    N(0, sigma^2 I). sigmas: strictly decreasing, > 0 (e.g. `noise_ladder`). The step keeps
    alpha_i / sigma_i^2 fixed, so every level mixes at the same rate relative to its width.
    x: (B, ...), the start (Song & Ermon draw it uniformly). Returns x after the last level.
    """
    check_samples(x, "x")
    if isinstance(sigmas, Tensor) and (
        sigmas.dtype == torch.bool or sigmas.is_complex()
    ):
        raise ArgTypeError(f"sigmas must be real numbers, got {sigmas.dtype}")
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64).flatten()
    if (
        sigmas.numel() == 0
        or not bool(((sigmas > 0) & (sigmas < math.inf)).all())
        or not bool((sigmas[1:] < sigmas[:-1]).all())
    ):
        raise ValueError(
            "sigmas must be finite, > 0 and strictly decreasing, got "
            f"{sigmas.tolist()[:6]}..."
        )
    eps = _check_step(eps, "eps")
    check_positive_int(steps_per_level, "steps_per_level")
    score_fn, check_later_outputs = watch_model(score_fn, "score_fn", arg="sigma")
    for sigma in sigmas.tolist():
        alpha = eps * sigma**2 / float(sigmas[-1]) ** 2  # Alg. 1, line 3
        for _ in range(steps_per_level):
            z = randn_like(x, generator)
            x = (
                x + 0.5 * alpha * score_fn(x, sigma) + math.sqrt(alpha) * z
            )  # Alg. 1, line 6
    check_later_outputs()  # one host read: did score_fn return NaN or inf on the way?
    return x
