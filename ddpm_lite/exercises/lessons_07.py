"""Exercise checkers of lesson 07 (what the model learned); registered on import."""

from __future__ import annotations

import math

import torch

from ._core import Verdict, _call, _is_number, exercise


@exercise("07-rate", reveals=True)
def _check_07_rate(answer: object) -> Verdict:
    # answer: rate(prior (B,), terms (B, T)) -> (B, T + 1), column t = bits sent once x_t is held.
    from ..losses import coding_rate_bpd

    if not callable(answer):
        return False, "expected a function rate(prior, terms)"
    g = torch.Generator().manual_seed(7)
    prior = torch.rand(3, generator=g, dtype=torch.float64) * 1e-3
    terms = torch.rand(3, 9, generator=g, dtype=torch.float64) * torch.linspace(
        2, 0.1, 9, dtype=torch.float64
    )
    truth = coding_rate_bpd({"prior": prior, "terms": terms})
    value, error = _call(
        answer,
        prior.clone(),
        terms.clone(),
        convert=lambda v: torch.as_tensor(v, dtype=torch.float64),
    )
    if error:
        return False, error
    if value.shape != truth.shape:
        return (
            False,
            f"expected shape {tuple(truth.shape)} (B, T + 1: one column per t = 0..T), got {tuple(value.shape)}",
        )
    if torch.allclose(value, truth, rtol=1e-9, atol=1e-12):
        return True, "correct"
    if torch.allclose(value[:, 1:], truth[:, :-1], rtol=1e-9, atol=1e-12):
        return (
            False,
            "off by one: holding x_t, the term at t (sending x_{t-1}) has not been paid yet",
        )
    if torch.allclose(value[:, -1], truth[:, 0], rtol=1e-9, atol=1e-12):
        return (
            False,
            "reversed: the chain sends x_T first, so R(T) = L_T and R(0) is the whole bound",
        )
    return False, "not yet: R(t) = L_T + sum of the terms at steps t + 1..T"


@exercise("07-decoder", reveals=True)
def _check_07_decoder(answer: object) -> Verdict:
    # answer: L_0 in bits for one digit pixel at level 12 of 0..16 (x_0 = 0.5), decoder N(0.45, 0.05^2).
    from ..datasets import DIGIT_LEVELS
    from ..losses import discretized_gaussian_log_likelihood

    x0, mean, log_scale = (
        torch.tensor(v, dtype=torch.float64) for v in (0.5, 0.45, math.log(0.05))
    )
    bits = {
        bins: -discretized_gaussian_log_likelihood(x, mean, log_scale, bins=bins).item()
        / math.log(2)
        for bins, x in [
            (DIGIT_LEVELS, x0),
            (256, torch.round((x0 + 1) * 127.5) / 127.5 - 1),
        ]
    }
    if not _is_number(answer):
        return False, f"expected a number of bits, got {answer!r}"
    if abs(answer - bits[DIGIT_LEVELS]) <= 1e-3 * bits[DIGIT_LEVELS]:
        return True, "correct"
    if abs(answer - bits[256]) <= 1e-3 * bits[256]:
        return (
            False,
            "that is the 8-bit decoder: the digits' bins reach 1/16 either side of the level",
        )
    if abs(answer - bits[DIGIT_LEVELS] * math.log(2)) <= 1e-3 * bits[DIGIT_LEVELS]:
        return False, "that is in nats: divide by ln 2"
    return (
        False,
        "not yet: integrate the Gaussian from x_0 - 1/16 to x_0 + 1/16, then take -log2",
    )


@exercise("07-mix")
def _check_07_mix(answer: object) -> Verdict:
    # answer: mix(eps_a, eps_b, lam) of two independent N(0, I) draws that stays N(0, I) for every lam.
    from ..stats import moment_z_scores

    if not callable(answer):
        return False, "expected a function mix(eps_a, eps_b, lam)"
    g = torch.Generator().manual_seed(70)
    eps_a, eps_b = (
        torch.randn(200_000, generator=g, dtype=torch.float64) for _ in range(2)
    )
    for lam in (0.0, 1.0):
        value, error = _call(
            answer,
            eps_a,
            eps_b,
            lam,
            convert=lambda v: torch.as_tensor(v, dtype=torch.float64),
        )
        if error:
            return False, error
        if value.shape != eps_a.shape or not torch.allclose(
            value, eps_a if lam == 0 else eps_b, atol=1e-9
        ):
            return (
                False,
                f"at lam = {lam:g} the mix must return {'eps_a' if lam == 0 else 'eps_b'} itself",
            )
    for lam in (0.25, 0.5, 0.8):
        value, error = _call(
            answer,
            eps_a,
            eps_b,
            lam,
            convert=lambda v: torch.as_tensor(v, dtype=torch.float64),
        )
        if error:
            return False, error
        if value.shape != eps_a.shape or not bool(torch.isfinite(value).all()):
            return False, f"expected a finite tensor of shape {tuple(eps_a.shape)}"
        z_mean, z_var = moment_z_scores(value, 0.0, 1.0)
        if abs(z_var) > 5:
            plain = (1 - lam) ** 2 + lam**2
            hint = (
                " (that is the plain linear mix, whose variance is (1 - lam)^2 + lam^2)"
                if abs(value.var().item() - plain) < 0.01
                else ""
            )
            return (
                False,
                f"at lam = {lam:g} the variance is {value.var().item():.3f}, not 1{hint}",
            )
        if abs(z_mean) > 5:
            return (
                False,
                f"at lam = {lam:g} the mean is {value.mean().item():.3f}, not 0",
            )
        corr_b = torch.corrcoef(torch.stack([value, eps_b]))[0, 1].item()
        if corr_b < 0.1:
            return False, f"at lam = {lam:g} the mix hardly depends on eps_b"
    return True, "correct"
