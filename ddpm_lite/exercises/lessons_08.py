"""Exercise checkers of lesson 08 (DDIM); registered on import."""

from __future__ import annotations

import torch

from ..schedule import cosine_schedule, linear_schedule
from ._core import Verdict, _call, _is_number, exercise


@exercise("08-sigma")
def _check_08_sigma(answer: object) -> Verdict:
    # answer: sigma(s, t, t_prev, eta), Song et al. 2021a, Eq. 16, for int64 tensors t, t_prev.
    from ..samplers import ddim_sigma

    if not callable(answer):
        return False, "expected a function sigma(s, t, t_prev, eta)"
    g = torch.Generator().manual_seed(0)
    for s in (linear_schedule(), cosine_schedule()):
        t = torch.randint(1, s.T + 1, (64,), generator=g)
        t_prev = (torch.rand(64, generator=g, dtype=torch.float64) * t).long()
        t[:4], t_prev[:4] = (
            torch.tensor([1, 2, 500, 1000]),
            torch.tensor([0, 1, 499, 0]),
        )
        for eta in (0.0, 0.3, 1.0):
            truth = ddim_sigma(s, t, t_prev, eta)
            value, error = _call(answer, s, t, t_prev, eta)
            if error:
                return False, error
            value = torch.as_tensor(value, dtype=torch.float64)
            if value.shape != truth.shape:
                return (
                    False,
                    f"expected shape {tuple(truth.shape)}, got {tuple(value.shape)}",
                )
            if torch.allclose(value, truth, rtol=1e-9, atol=1e-12):
                continue
            if torch.allclose(value, truth**2, rtol=1e-9, atol=1e-12):
                return (
                    False,
                    "not yet: that is sigma^2; the step needs the standard deviation sigma",
                )
            if eta > 0 and torch.allclose(
                (value / eta) ** 2, s.beta_tilde[t], rtol=1e-9, atol=1e-12
            ):
                return (
                    False,
                    "not yet: beta_tilde_t holds for consecutive steps only; use alpha_bar at t_prev",
                )
            return False, f"not yet with eta = {eta}: compare with Eq. 16 term by term"
    return True, "correct"


@exercise("08-eta-max")
def _check_08_eta_max(answer: object) -> Verdict:
    # answer: eta_max(s, t, t_prev), the largest eta with sigma^2 <= 1 - alpha_bar_prev.
    from ..samplers import ddim_sigma

    if not callable(answer):
        return False, "expected a function eta_max(s, t, t_prev)"
    s = linear_schedule()
    for t, t_prev in [(2, 1), (500, 499), (1000, 999), (1000, 0), (600, 100), (50, 10)]:
        tt, tp = torch.tensor(t), torch.tensor(t_prev)
        sigma_1 = float(ddim_sigma(s, tt, tp, 1.0))  # sigma is linear in eta
        room = float(1 - s.alpha_bar[t_prev])
        if sigma_1 == 0.0:  # t_prev = 0: any eta is allowed
            continue
        truth = room**0.5 / sigma_1
        value, error = _call(answer, s, t, t_prev)
        if error:
            return False, error
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if not _is_number(value):
            return False, f"expected a number, got {value!r}"
        if abs(value - truth) <= 1e-8 * truth:
            continue
        if abs(value - truth**2) <= 1e-8 * truth**2:
            return False, "not yet: that is eta_max^2; take the square root"
        return (
            False,
            f"not yet at (t, t_prev) = {(t, t_prev)}: solve sigma(eta)^2 = 1 - alpha_bar_prev",
        )
    return True, "correct"


@exercise("08-invert")
def _check_08_invert(answer: object) -> Verdict:
    # answer: up(s, eps, x_s, t, t_prev) with ddim_step(s, eps, up(...), t, t_prev) == x_s.
    from ..samplers import ddim_step

    if not callable(answer):
        return False, "expected a function up(s, eps, x_s, t, t_prev)"
    s = linear_schedule()
    g = torch.Generator().manual_seed(1)
    x_s, eps = (torch.randn(8, 2, generator=g, dtype=torch.float64) for _ in range(2))
    for t, t_prev in [(2, 1), (100, 50), (1000, 1), (999, 500)]:
        value, error = _call(answer, s, eps, x_s, t, t_prev)
        if error:
            return False, error
        value = torch.as_tensor(value, dtype=torch.float64)
        if value.shape != x_s.shape:
            return False, f"expected shape {tuple(x_s.shape)}, got {tuple(value.shape)}"
        back = ddim_step(s, eps, value, t, t_prev, eta=0.0)
        if not torch.allclose(back, x_s, rtol=1e-8, atol=1e-10):
            return False, (
                f"not yet at (t, t_prev) = {(t, t_prev)}: the eta = 0 step from your x_t "
                "does not return x_s; use alpha_bar at both times"
            )
    return True, "correct"
