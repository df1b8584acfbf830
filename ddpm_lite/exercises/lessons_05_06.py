"""Exercise checkers of lessons 05-06 (U-Net, training and sampling); registered on import."""

from __future__ import annotations

import torch

from ..schedule import linear_schedule
from ._core import Verdict, _as_float64, _call, _is_number, exercise


@exercise("05-resblock")
def _check_05_resblock(answer: object) -> Verdict:
    # answer: n(c_in, c_out, e), the parameter count of a residual block without attention.
    from ..unet import ResBlock

    if not callable(answer):
        return False, "expected a function n(c_in, c_out, e)"
    for c_in, c_out, e in [(64, 64, 256), (64, 128, 512), (96, 32, 128)]:
        block = ResBlock(c_in, c_out, emb_dim=e, dropout=0.0, groups=32, eps=1e-6)
        truth = sum(p.numel() for p in block.parameters())
        value, error = _call(answer, c_in, c_out, e)
        if error:
            return False, error
        if value != truth:
            return (
                False,
                f"not yet: for (c_in, c_out, e) = {(c_in, c_out, e)} you count {value}",
            )
    return True, "correct"


@exercise("05-attention", reveals=True)
def _check_05_attention(answer: object) -> Verdict:
    truth = (32 * 32) ** 2 / (16 * 16) ** 2
    if not _is_number(answer):
        return False, f"expected a number, got {answer!r}"
    if answer == truth:
        return True, "correct"
    if answer == 4:
        return (
            False,
            "not yet: 4 is the factor for the number of pixels; the matrix has pixels x pixels entries",
        )
    return False, "not yet: the attention matrix has (H W)^2 entries"


@exercise("06-step")
def _check_06_step(answer: object) -> Verdict:
    # answer: step(s, eps, x_t, t, z, variance), line 4 of Algorithm 2 for a batch.
    from ..samplers import ddpm_step

    if not callable(answer):
        return False, "expected a function step(s, eps, x_t, t, z, variance)"
    s = linear_schedule()
    g = torch.Generator().manual_seed(0)
    x_t, eps, z = (
        torch.randn(16, 2, generator=g, dtype=torch.float64) for _ in range(3)
    )
    t = torch.tensor([1, 2, 3, 10, 100, 500, 999, 1000] * 2)
    for variance in ("beta", "beta_tilde"):
        truth = ddpm_step(s, eps, x_t, t, noise=z, variance=variance)
        value, error = _call(answer, s, eps, x_t, t, z, variance, convert=_as_float64)
        if error:
            return False, error
        if value.shape != truth.shape or not torch.allclose(
            value, truth, rtol=1e-9, atol=1e-12
        ):
            wrong_t = (
                sorted(
                    {
                        int(v)
                        for v in t[(value - truth).abs().reshape(16, -1).amax(1) > 1e-9]
                    }
                )
                if value.shape == truth.shape
                else "all"
            )
            return False, f"not yet with variance={variance!r}: wrong at t = {wrong_t}"
    return True, "correct"


@exercise("06-ema")
def _check_06_ema(answer: object) -> Verdict:
    d = 0.9999
    truth = d / (1 - d)
    if not _is_number(answer):
        return False, f"expected a number, got {answer!r}"
    if abs(answer - truth) <= 1e-6 * truth:
        return True, "correct"
    if abs(answer - 1 / (1 - d)) <= 1e-6 * truth:
        return (
            False,
            "close: 1 / (1 - d) is the effective window; the mean age is d / (1 - d)",
        )
    return False, "not yet: sum k (1 - d) d^k is the derivative of a geometric series"
