"""Guidance: turn a model of p(x) into a sampler of p(x | y), sharpened by a scale.

Both guides are wrappers that return a new eps_theta(x_t, t), so they work with every
sampler in the package (DDPM, DDIM, DPM-Solver, and the SDE/ODE solvers through
`score_fn_from_eps_theta`). t is the paper's step: an int64 tensor of shape (B,) or an int.
Derived in lesson 12.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .schedule import Schedule, gather

EpsTheta = Callable[[Tensor, Tensor], Tensor]


def _steps(t: Tensor | int, x: Tensor) -> Tensor:
    """t as int64 of shape (B,) on x's device."""
    t = torch.as_tensor(t, dtype=torch.int64, device=x.device)
    return t.expand(x.shape[0]) if t.ndim == 0 else t


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
    """

    def guided(x_t: Tensor, t: Tensor | int) -> Tensor:
        t = _steps(t, x_t)
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(
                log_prob_y(x, t, y).sum(), x
            )  # grad_x log p(y | x_t)
        sigma = gather((1 - s.alpha_bar).sqrt(), t.cpu(), x_t)  # sqrt(1 - alpha_bar_t)
        return eps_theta(x_t, t) - scale * sigma * grad.to(x_t.dtype)  # Eq. 14, scaled

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
    """

    def guided(x_t: Tensor, t: Tensor | int) -> Tensor:
        B, t = x_t.shape[0], _steps(t, x_t)
        y_b = torch.as_tensor(y, device=x_t.device)
        y_b = y_b.expand(B) if y_b.ndim == 0 else y_b
        null = torch.as_tensor(
            null_label, dtype=y_b.dtype, device=x_t.device
        ).expand_as(y_b)
        eps = eps_theta_cond(
            torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([y_b, null])
        )
        eps_cond, eps_uncond = eps.chunk(2)
        return (1 + w) * eps_cond - w * eps_uncond  # Eq. 6

    return guided
