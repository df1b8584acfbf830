"""Exercise checkers of lesson 13 (beyond: latent diffusion, DiT, flow matching); registered on import."""

from __future__ import annotations

import math

import torch

from ._core import Verdict, _call, exercise

_F64 = dict(dtype=torch.float64)


def _close(value: object, truth: torch.Tensor) -> bool:
    return (
        isinstance(value, torch.Tensor)
        and value.shape == truth.shape
        and torch.allclose(value.to(truth.dtype), truth, rtol=1e-9, atol=1e-10)
    )


@exercise("13-x0-from-v")
def _check_13_x0_from_v(answer: object) -> Verdict:
    # answer: x0_from_v(alpha, sigma, x_t, v) for the VP path x_t = alpha x_0 + sigma eps.
    from ..flow_matching import v_from_eps_x0

    if not callable(answer):
        return False, "expected a function x0_from_v(alpha, sigma, x_t, v)"
    g = torch.Generator().manual_seed(13)
    for phi in (0.2, 0.9, 1.4):
        alpha, sigma = math.cos(phi), math.sin(phi)
        x_0, eps = (
            torch.randn(16, 2, generator=g, **_F64),
            torch.randn(16, 2, generator=g, **_F64),
        )
        x_t, v = alpha * x_0 + sigma * eps, v_from_eps_x0(alpha, sigma, eps, x_0)
        value, error = _call(answer, alpha, sigma, x_t, v)
        if error:
            return False, error
        if not _close(value, x_0):
            if _close(value, eps):
                return (
                    False,
                    "not yet: that is eps; x_0 is what is left after removing the noise",
                )
            if _close(value, alpha * x_t + sigma * v):
                return (
                    False,
                    "not yet: check the sign of the v term (v = alpha eps - sigma x_0)",
                )
            return (
                False,
                f"not yet: at alpha = {alpha:.3f}, sigma = {sigma:.3f} you do not recover x_0",
            )
    return True, "correct"


@exercise("13-velocity-from-x0")
def _check_13_velocity_from_x0(answer: object) -> Verdict:
    # answer: velocity(x_t, t, x0_hat), the straight-path velocity a data prediction implies.
    from ..flow_matching import mixture_velocity, x0_from_velocity
    from ..oracle import GaussianMixture

    if not callable(answer):
        return False, "expected a function velocity(x_t, t, x0_hat)"
    gm = GaussianMixture(
        torch.tensor([[-1.0, 0.5], [1.0, -0.5]], **_F64),
        torch.tensor([0.3, 0.5], **_F64),
        torch.tensor([0.4, 0.6], **_F64),
    )
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(13), **_F64)
    for t in (0.15, 0.5, 0.85):
        u = mixture_velocity(gm, x, t)  # the exact marginal velocity
        x0_hat = x0_from_velocity(x, t, u)  # the exact E[x_0 | x_t]
        value, error = _call(answer, x, t, x0_hat)
        if error:
            return False, error
        if not _close(value, u):
            if _close(value, -u):
                return (
                    False,
                    "not yet: the direction is reversed; here t runs from data (t = 0) to noise (t = 1)",
                )
            return (
                False,
                f"not yet: at t = {t} your velocity differs from E[eps - x_0 | x_t]",
            )
    return True, "correct"


@exercise("13-patchify")
def _check_13_patchify(answer: object) -> Verdict:
    # answer: patchify(x, p), (B, C, H, W) -> (B, N, p*p*C) in the package's order.
    from ..dit import patchify

    if not callable(answer):
        return False, "expected a function patchify(x, p)"
    x = torch.randn(2, 3, 8, 4, generator=torch.Generator().manual_seed(13))
    for p in (2, 4):
        truth = patchify(x, p)
        value, error = _call(answer, x, p)
        if error:
            return False, error
        if not isinstance(value, torch.Tensor) or value.shape != truth.shape:
            got = (
                tuple(value.shape)
                if isinstance(value, torch.Tensor)
                else type(value).__name__
            )
            return (
                False,
                f"not yet: for p = {p} expected shape {tuple(truth.shape)}, got {got}",
            )
        if not torch.equal(value, truth):
            same_tokens = torch.equal(
                value.sort(dim=2).values, truth.sort(dim=2).values
            )
            hint = (
                "the right pixels, in another order: within a token use (row, column, channel)"
                if same_tokens
                else "the patches are not in row-major order"
            )
            return False, f"not yet: {hint}"
    return True, "correct"
