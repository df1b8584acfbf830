"""The forward process q, its posterior, and the reverse step p_theta built from a predicted eps.

All functions take the paper's t (int64 of shape (B,), values 1..T), look the schedule
up at t in float64, and compute in the dtype and on the device of their tensor inputs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_bool, check_choice, check_same_shape, check_timesteps
from .schedule import Schedule, gather

VARIANCES = ("beta", "beta_tilde")


def q_sample(s: Schedule, x_0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
    """Draw x_t ~ q(x_t | x_0) in closed form (Ho et al. 2020, Eq. 4).

        x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,   eps ~ N(0, I)

    x_0, eps: (B, ...); t: int64 (B,) in 1..T. Returns (B, ...). Derived in lesson 01.
    """
    check_same_shape(x_0=x_0, eps=eps)
    check_timesteps(t, s.T, batch=x_0.shape[0])
    return (
        gather(s.alpha_bar.sqrt(), t, x_0) * x_0
        + gather((1 - s.alpha_bar).sqrt(), t, x_0) * eps
    )


def q_posterior(
    s: Schedule, x_0: Tensor, x_t: Tensor, t: Tensor
) -> tuple[Tensor, Tensor]:
    """Mean and variance of q(x_{t-1} | x_t, x_0) (Ho et al. 2020, Eqs. 6-7).

        mu_tilde_t   = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) * x_0
                     + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * x_t
        beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t

    x_0, x_t: (B, ...); t: int64 (B,) in 1..T. Returns mu_tilde (B, ...) and
    beta_tilde_t of shape (B, 1, ..., 1). At t = 1, mu_tilde = x_0 and beta_tilde = 0.
    Derived in lesson 02.
    """
    check_same_shape(x_0=x_0, x_t=x_t)
    check_timesteps(t, s.T, batch=x_0.shape[0])
    ab, ab_prev = s.alpha_bar[1:], s.alpha_bar[:-1]  # index t-1 holds t
    coef_x0 = torch.cat([ab.new_zeros(1), ab_prev.sqrt() * s.beta[1:] / (1 - ab)])
    coef_xt = torch.cat(
        [ab.new_zeros(1), s.alpha[1:].sqrt() * (1 - ab_prev) / (1 - ab)]
    )
    mu_tilde = gather(coef_x0, t, x_0) * x_0 + gather(coef_xt, t, x_t) * x_t  # Eq. 7
    return mu_tilde, gather(s.beta_tilde, t, x_t)


def x0_from_eps(s: Schedule, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
    """Solve Eq. 4 for x_0 given the noise (Ho et al. 2020, Eq. 4; with eps_theta, Eq. 15).

        x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)

    x_t, eps: (B, ...); t: int64 (B,) in 1..T. Derived in lesson 04.
    """
    check_same_shape(x_t=x_t, eps=eps)
    check_timesteps(t, s.T, batch=x_t.shape[0])
    return (x_t - gather((1 - s.alpha_bar).sqrt(), t, x_t) * eps) / gather(
        s.alpha_bar.sqrt(), t, x_t
    )


def eps_from_x0(s: Schedule, x_t: Tensor, t: Tensor, x_0: Tensor) -> Tensor:
    """Solve Eq. 4 for the noise given x_0 (Ho et al. 2020, Eq. 4 inverted).

        eps = (x_t - sqrt(alpha_bar_t) x_0) / sqrt(1 - alpha_bar_t)

    x_t, x_0: (B, ...); t: int64 (B,) in 1..T. Derived in lesson 04.
    """
    check_same_shape(x_t=x_t, x_0=x_0)
    check_timesteps(t, s.T, batch=x_t.shape[0])
    return (x_t - gather(s.alpha_bar.sqrt(), t, x_t) * x_0) / gather(
        (1 - s.alpha_bar).sqrt(), t, x_t
    )


def reverse_log_variance(s: Schedule, variance: str) -> Tensor:
    """log sigma_t^2 of p_theta(x_{t-1} | x_t) for a fixed variance choice, float64 (T+1,).

    Ho et al. 2020, Sec. 3.2 fixes sigma_t^2 to beta_t ("beta") or beta_tilde_t
    ("beta_tilde"). Both tables replace the t = 1 entry by beta_tilde_2, as the reference
    code does (improved-diffusion: "fixed_large" is append(posterior_variance[1],
    betas[1:]) and "fixed_small" uses posterior_log_variance_clipped):
      * beta_tilde_1 = 0, so its log is -inf; the t = 1 step feeds the decoder L_0, which
        needs a positive variance;
      * beta_1 = 1e-4 (linear schedule) is a decoder std of 0.01, larger than beta_tilde_2
        ~ 5.5e-5, so the replacement also tightens L_0.
    Ho et al.'s own code keeps variance beta_1 but log-variance log beta_tilde_2 at t = 1;
    diffusers' "fixed_large" keeps beta_1. Algorithm 2 adds no noise at t = 1, so samples
    do not depend on this; only the decoder term L_0 does. If T = 1 there is no
    beta_tilde_2 and beta_1 is used. Index 0 is unused (a copy of index 1).
    Derived in lesson 03.
    """
    check_choice(variance, VARIANCES, "variance")
    table = (s.beta if variance == "beta" else s.beta_tilde).clone()
    table[1] = s.beta_tilde[2] if s.T >= 2 else s.beta[1]
    table[0] = table[1]
    return table.log()


def p_mean_var(
    s: Schedule,
    eps: Tensor,
    x_t: Tensor,
    t: Tensor,
    *,
    variance: str = "beta",
    clip_x0: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """Mean, variance and log-variance of p_theta(x_{t-1} | x_t) from a predicted eps.

        mu_theta = (x_t - beta_t / sqrt(1 - alpha_bar_t) * eps) / sqrt(alpha_t)   (Eq. 11)
        sigma_t^2 = beta_t or beta_tilde_t, both with t = 1 set to beta_tilde_2
                    (see `reverse_log_variance`), var = exp(log_var)

    With clip_x0, x0_hat = clamp(x0_from_eps(x_t, eps), -1, 1) and the mean is
    mu_tilde(x0_hat, x_t) of Eq. 7 instead (equal to Eq. 11 when nothing is clipped).
    Ho et al. 2020, Eq. 11 and Sec. 3.2. eps, x_t: (B, ...); t: int64 (B,) in 1..T.
    Returns mean (B, ...) and var, log_var of shape (B, 1, ..., 1). Derived in lesson 04.
    """
    check_same_shape(eps=eps, x_t=x_t)
    check_timesteps(t, s.T, batch=x_t.shape[0])
    check_bool(clip_x0, "clip_x0")
    log_var = gather(reverse_log_variance(s, variance), t, x_t)
    if clip_x0:
        x0_hat = x0_from_eps(s, x_t, t, eps).clamp(-1, 1)
        mean, _ = q_posterior(s, x0_hat, x_t, t)
    else:
        coef_eps = s.beta / (1 - s.alpha_bar).clamp(min=1e-300).sqrt()  # index 0 unused
        mean = (x_t - gather(coef_eps, t, x_t) * eps) / gather(
            s.alpha.sqrt(), t, x_t
        )  # Eq. 11
    return mean, log_var.exp(), log_var
