"""Guidance: turn a model of p(x) into a sampler of p(x | y), sharpened by a scale.

Both guides are wrappers that return a new eps_theta(x_t, t), so they work with every
sampler in the package (DDPM, DDIM, DPM-Solver, and the SDE/ODE solvers through
`score_fn_from_eps_theta`). t is the paper's step: an int64 tensor of shape (B,) or an int.
Derived in lesson 12.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch
from torch import Tensor

from ._checks import (
    ArgTypeError,
    check_floating,
    check_model_output,
    check_real,
    check_steps,
    watch_model,
)
from .schedule import Schedule, gather

EpsTheta = Callable[[Tensor, Tensor], Tensor]


def _is_label(v: object) -> bool:
    """An int, or an integer tensor of shape () or (B,)."""
    if isinstance(v, Tensor):
        return v.ndim <= 1 and not (v.is_floating_point() or v.is_complex())
    return isinstance(v, numbers.Integral)


def _labels(v: Tensor | int, name: str, batch: int, device: torch.device) -> Tensor:
    """A label (int or tensor of shape () or (B,)) as a (B,) tensor on `device`."""
    v = torch.as_tensor(v, device=device)
    v = v.expand(batch) if v.ndim == 0 else v
    if v.shape != (batch,):
        raise ValueError(
            f"{name} must be an int or have shape ({batch},), got {tuple(v.shape)}"
        )
    return v


def _steps(t: Tensor | int, x: Tensor) -> Tensor:
    """t as int64 of shape (B,) on x's device (its range is the model's to check)."""
    if isinstance(t, bool) or not _is_label(t) or getattr(t, "dtype", 0) == torch.bool:
        raise ArgTypeError(
            f"t must be an int or an int64 tensor of shape ({x.shape[0]},), got "
            f"{t!r:.60}"
        )
    return _labels(t, "t", x.shape[0], x.device).to(torch.int64)


def classifier_guidance(
    eps_theta: EpsTheta,
    log_prob_y: Callable[[Tensor, Tensor, Tensor], Tensor],
    s: Schedule,
    y: Tensor | int,
    *,
    scale: float,
) -> EpsTheta:
    """Classifier guidance in the eps form (Dhariwal & Nichol 2021, Eq. 14, Algorithm 2).

        eps_hat(x_t, t) = eps_theta(x_t, t)
                          - scale * sqrt(1 - alpha_bar_t) * grad_x log p(y | x_t, t)

    Since score = -eps / sqrt(1 - alpha_bar_t), this adds scale * grad log p(y | x_t) to
    the score: at scale 1 it is the score of p(x_t | y), for larger scales of
    p(x_t) p(y | x_t)^scale (up to normalisation; their Sec. 4.3). log_prob_y(x_t, t, y)
    -> (B,) is a noise-aware classifier's log p(y | x_t); its gradient is by autograd.
    scale: a finite number. The guided model takes t in 1..T (an int or int64 (B,)).
    """
    scale = check_real(scale, "scale")
    # The first call is checked in full; a NaN later shows in the sampler's own check.
    model, _ = watch_model(eps_theta, "eps_theta", track=False)

    def guided(x_t: Tensor, t: Tensor | int) -> Tensor:
        B = check_floating(x_t, "x_t").shape[0]
        t_cpu = check_steps(t, "t", 1, s.T, batch=B)  # the copy gather looks up
        t = _steps(t, x_t)
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            log_p = check_model_output(
                log_prob_y(x, t, y),
                x,
                "log_prob_y",
                shape=(B,),
                what="(B,)",
                finite=False,
            )
            (grad,) = torch.autograd.grad(log_p.sum(), x)  # grad_x log p(y | x_t)
        sigma = gather((1 - s.alpha_bar).sqrt(), t_cpu, x_t)  # sqrt(1 - alpha_bar_t)
        return model(x_t, t) - scale * sigma * grad.to(x_t.dtype)  # Eq. 14, scaled

    return guided


def classifier_free_guidance(
    eps_theta_cond: Callable[[Tensor, Tensor, Tensor], Tensor],
    y: Tensor | int,
    *,
    w: float,
    null_label: Tensor | int,
) -> EpsTheta:
    """Classifier-free guidance (Ho & Salimans 2022, Eq. 6).

        eps_tilde(x_t, t) = (1 + w) eps_theta(x_t, t, y) - w eps_theta(x_t, t, null)

    w = 0 is the conditional model, w = -1 the unconditional one; w > 0 extrapolates away
    from the unconditional model, which is classifier guidance at scale 1 + w with the implicit
    classifier p(y | x_t) = p(x_t | y) p(y) / p(x_t). The conditional and the unconditional
    calls share one forward pass on a batch of 2B. eps_theta_cond(x_t, t, y): y of shape (B,)
    (or an int); null_label is the label the model was trained with for "no condition".
    w: a finite number.
    """
    w = check_real(w, "w")
    for v, name in ((y, "y"), (null_label, "null_label")):
        if (
            isinstance(v, bool)
            or not _is_label(v)
            or getattr(v, "dtype", 0) == torch.bool
        ):
            raise ArgTypeError(
                f"{name} must be an int or an integer tensor of shape () or (B,), "
                f"got {v!r:.60}"
            )
    if isinstance(null_label, Tensor) and null_label.ndim != 0:
        raise ValueError(
            "null_label must be one label (an int), got shape "
            f"{tuple(null_label.shape)}"
        )
    # The first call is checked in full; a NaN later shows in the sampler's own check.
    model, _ = watch_model(eps_theta_cond, "eps_theta_cond", track=False)

    def guided(x_t: Tensor, t: Tensor | int) -> Tensor:
        B = check_floating(x_t, "x_t").shape[0]
        t, y_b = _steps(t, x_t), _labels(y, "y", B, x_t.device)
        null = torch.as_tensor(
            null_label, dtype=y_b.dtype, device=x_t.device
        ).expand_as(y_b)
        eps = model(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([y_b, null]))
        eps_cond, eps_uncond = eps.chunk(2)
        return (1 + w) * eps_cond - w * eps_uncond  # Eq. 6

    return guided
