"""The variational bound of Ho et al. 2020 (Eqs. 5, 8, 13) in bits/dim, and L_simple (Eq. 14).

Pure functions: `normal_kl` and `discretized_gaussian_log_likelihood` work elementwise;
`prior_bpd` and `vlb_terms_bpd` average over the data dimensions of each example and
divide by ln 2, so their values are bits per dimension.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.special import log_ndtr

from ._checks import (
    check_choice,
    check_finite,
    check_floating,
    check_int,
    check_model_output,
    check_positive_int,
    check_samples,
    watch_model,
)
from ._noise import randint, randn_like
from .diffusion import VARIANCES, p_mean_var, q_posterior, q_sample
from .schedule import Schedule, gather

EpsTheta = Callable[[Tensor, Tensor], Tensor]


def normal_kl(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor) -> Tensor:
    """Elementwise KL( N(mean1, exp(logvar1)) || N(mean2, exp(logvar2)) ) in nats.

        KL = 0.5 * (-1 + logvar2 - logvar1 + exp(logvar1 - logvar2)
                    + (mean1 - mean2)^2 * exp(-logvar2))

    i.e. with variances v1, v2: 1/2 log(v2/v1) + (v1 + (mean1 - mean2)^2) / (2 v2) - 1/2.
    Arguments broadcast. Used for L_T and L_{t-1} in Ho et al. 2020, Eq. 5. Lesson 03.
    """
    return 0.5 * (
        -1.0
        + logvar2
        - logvar1
        + torch.exp(logvar1 - logvar2)
        + (mean1 - mean2) ** 2 * torch.exp(-logvar2)
    )


def _log_normal_mass(lo: Tensor, hi: Tensor) -> Tensor:
    """log(Phi(hi) - Phi(lo)) for lo < hi, without cancellation anywhere on the line."""
    width = hi - lo
    # both edges below 0: factor out Phi(hi); log_ndtr is accurate in the far left tail
    hi_a = hi.clamp(max=0.0)
    left = log_ndtr(hi_a) + torch.log(
        -torch.expm1(log_ndtr(hi_a - width) - log_ndtr(hi_a))
    )
    # both edges above 0: the mirror image, Phi(hi) - Phi(lo) = Phi(-lo) - Phi(-hi)
    lo_b = lo.clamp(min=0.0)
    right = log_ndtr(-lo_b) + torch.log(
        -torch.expm1(log_ndtr(-lo_b - width) - log_ndtr(-lo_b))
    )
    # straddling 0: erf(hi) > 0 > erf(lo), so the difference adds two positive numbers
    hi_c, lo_c = hi.clamp(min=0.0), lo.clamp(max=0.0)
    middle = torch.log(
        0.5 * (torch.erf(hi_c / math.sqrt(2)) - torch.erf(lo_c / math.sqrt(2)))
    )
    return torch.where(hi <= 0, left, torch.where(lo >= 0, right, middle))


def discretized_gaussian_log_likelihood(
    x: Tensor, mean: Tensor, log_scale: Tensor, *, bins: int = 256
) -> Tensor:
    """Elementwise log-probability (nats) of data on a grid of `bins` levels in [-1, 1].

        log p(x) = log( Phi((x + d - mean) / std) - Phi((x - d - mean) / std) ),
        d = 1 / (bins - 1), std = exp(log_scale),
    with the lowest level's bin extended to -inf and the highest's to +inf, so the
    probabilities of the `bins` levels sum to one. Ho et al. 2020, Eq. 13 (the decoder
    p_theta(x_0 | x_1) with 256 levels for 8-bit images). x must lie on the grid
    -1 + 2 j / (bins - 1), j = 0..bins-1; arguments broadcast. Computed in at least
    float32 (log_ndtr and a cancellation-free difference, so finite far in the tails),
    returned in the promoted dtype of x, mean and log_scale. Lesson 03.
    """
    check_int(bins, "bins", 2)
    for v, name in ((x, "x"), (mean, "mean"), (log_scale, "log_scale")):
        check_floating(v, name)
    dtype = torch.promote_types(
        torch.promote_types(x.dtype, mean.dtype), log_scale.dtype
    )
    work = torch.promote_types(dtype, torch.float32)
    x, mean, log_scale = x.to(work), mean.to(work), log_scale.to(work)
    d = 1.0 / (bins - 1)  # half the gap between levels
    inv_std = torch.exp(-log_scale)
    lo, hi = (x - d - mean) * inv_std, (x + d - mean) * inv_std
    level = torch.round((x + 1) / (2 * d))  # j in 0..bins-1
    log_p = torch.where(
        level <= 0,
        log_ndtr(hi),  # (-inf, x + d]
        torch.where(
            level >= bins - 1,
            log_ndtr(-lo),  # [x - d, +inf)
            _log_normal_mass(lo, hi),
        ),
    )
    return log_p.to(dtype)


def _mean_bpd(nats: Tensor) -> Tensor:
    """Average over all but the first dimension, in bits: (B, ...) -> (B,)."""
    return nats.reshape(nats.shape[0], -1).mean(1) / math.log(2.0)


def prior_bpd(s: Schedule, x_0: Tensor) -> Tensor:
    """L_T = KL( q(x_T | x_0) || N(0, I) ) in bits/dim, one value per example (B,).

        q(x_T | x_0) = N( sqrt(alpha_bar_T) x_0, (1 - alpha_bar_T) I )      (Eq. 4)
        L_T / (D ln 2),  D = number of dimensions of one example

    Ho et al. 2020, Eq. 5 (L_T) and Sec. 4 ("L_T ~ 1e-5 bits per dimension" for the
    linear schedule). x_0: (B, ...). Lesson 03.
    """
    check_samples(x_0, "x_0", finite=False)
    t = torch.full((x_0.shape[0],), s.T, dtype=torch.int64, device=x_0.device)
    mean = gather(s.alpha_bar.sqrt(), t, x_0) * x_0
    log_var = gather((1 - s.alpha_bar).log(), t, x_0)
    zero = torch.zeros((), dtype=x_0.dtype, device=x_0.device)
    return _mean_bpd(normal_kl(mean, log_var, zero, zero))


def _vlb_terms_at(
    eps_theta: EpsTheta,
    s: Schedule,
    x_0: Tensor,
    t: Tensor,
    eps: Tensor,
    variance: str,
    bins: int,
) -> Tensor:
    """The bound's term at each row's own t, bits/dim: L_0 if t = 1 else L_{t-1}. (N,)."""
    x_t = q_sample(s, x_0, t, eps)
    mean, _, log_var = p_mean_var(s, eps_theta(x_t, t), x_t, t, variance=variance)
    mu_tilde, _ = q_posterior(s, x_0, x_t, t)
    log_beta_tilde = gather(
        s.beta_tilde.clamp(min=1e-300).log(), t, x_0
    )  # t = 1 unused
    kl = normal_kl(mu_tilde, log_beta_tilde, mean, log_var)  # Eqs. 5, 8
    decoder_nll = -discretized_gaussian_log_likelihood(
        x_0, mean, 0.5 * log_var, bins=bins
    )  # Eq. 13
    is_first = (t == 1).reshape(-1, *([1] * (x_0.ndim - 1)))
    return _mean_bpd(torch.where(is_first, decoder_nll, kl))


def _check_on_grid(x_0: Tensor, bins: int) -> None:
    """ValueError unless every value of x_0 is one of the `bins` levels -1 + 2 j / (bins - 1)."""
    check_int(bins, "bins", 2)
    j = (x_0.detach().double() + 1) * (bins - 1) / 2
    off = (j - j.round()).abs().max().item() if x_0.numel() else 0.0
    if not (off < 1e-3 and j.min() > -1e-3 and j.max() < bins - 1 + 1e-3):
        raise ValueError(
            f"x_0 must lie on the grid of bins = {bins} levels in [-1, 1] "
            f"(-1 + 2 j / {bins - 1}); data with another number of levels need bins set to it"
        )


@torch.no_grad()
def vlb_terms_bpd(
    eps_theta: EpsTheta,
    s: Schedule,
    x_0: Tensor,
    *,
    variance: str = "beta",
    bins: int = 256,
    generator: torch.Generator | None = None,
    noise: Tensor | None = None,
    batch_size: int = 4096,
) -> dict[str, Tensor]:
    """All terms of the variational bound (Ho et al. 2020, Eq. 5) in bits/dim, per example.

        L = L_T + sum_{t=2..T} L_{t-1} + L_0
        L_T     = KL( q(x_T | x_0) || N(0, I) )                         (`prior_bpd`)
        L_{t-1} = KL( q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t) )  (Eqs. 6-8, 11)
        L_0     = -log p_theta(x_0 | x_1), discretized Gaussian        (Eq. 13)
    each with one fresh x_t ~ q(x_t | x_0) (Eq. 4): its eps is drawn with `generator`, or
    given as `noise`, a tensor (B, T, ...) whose [:, t - 1] is the eps of step t, so that a
    result can be reproduced exactly (then `generator` must be None).

    eps_theta(x_t, t) -> eps_hat with t int64 (N,). x_0: (B, ...) on the grid of `bins`
    levels in [-1, 1] (256 for 8-bit images, 17 for the digits; only L_0 depends on it).
    Returns {"prior": (B,), "terms": (B, T) whose column t-1 is the
    term at t (L_0 at t = 1), "total": (B,) = prior + terms.sum(1)}. Several timesteps
    go through eps_theta in one call of at most max(batch_size, B) rows. Lessons 03 and 07.
    """
    check_choice(variance, VARIANCES, "variance")
    _check_on_grid(check_samples(x_0, "x_0", finite=False), bins)
    check_positive_int(batch_size, "batch_size")
    B, T = x_0.shape[0], s.T
    if noise is not None:
        if generator is not None:
            raise ValueError("give noise or generator, not both: the noise is the draw")
        expected = (B, T, *x_0.shape[1:])
        if check_floating(noise, "noise").shape != expected:
            raise ValueError(
                f"noise must have shape (B, T, ...) = {expected}, one eps per example and "
                f"step, got {tuple(noise.shape)}"
            )
        check_finite(noise, "noise")
        noise = noise.to(x_0.device, x_0.dtype)
    eps_theta, check_later_outputs = watch_model(eps_theta, "eps_theta")
    per_call = max(1, batch_size // B)  # timesteps per eps_theta call
    terms = []
    for start in range(1, T + 1, per_call):
        t = torch.arange(start, min(start + per_call, T + 1), device=x_0.device)
        t_rows = t.repeat_interleave(B)  # (n_t * B,)
        x_rows = x_0.repeat(len(t), *([1] * (x_0.ndim - 1)))
        eps = (
            randn_like(x_rows, generator)
            if noise is None
            else noise[:, t - 1].transpose(0, 1).reshape(x_rows.shape)  # t-major rows
        )
        terms.append(
            _vlb_terms_at(eps_theta, s, x_rows, t_rows, eps, variance, bins).reshape(
                len(t), B
            )
        )
    check_later_outputs()  # one host read: did eps_theta return NaN or inf on the way?
    terms = torch.cat(terms).T  # (B, T)
    prior = prior_bpd(s, x_0)
    return {"prior": prior, "terms": terms, "total": prior + terms.sum(1)}


def loss_simple(
    eps_theta: EpsTheta,
    s: Schedule,
    x_0: Tensor,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """L_simple: mean squared error of the noise prediction (Ho et al. 2020, Eq. 14, Alg. 1).

        L_simple = E_{t, x_0, eps} || eps - eps_theta( sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps, t ) ||^2
        t ~ Uniform{1..T}, eps ~ N(0, I), one (t, eps) per example of x_0: (B, ...).

    Returns a scalar: the mean over all B * D elements (the squared norm divided by D,
    which only rescales Eq. 14 and keeps the learning rate independent of image size).
    eps_theta must return a floating-point tensor of x_t's shape on its device; a NaN or
    inf it returns is not read here (no host read per step) but makes the loss NaN or
    inf, which the training loop reports with its step. Lesson 04.
    """
    B = check_samples(x_0, "x_0", finite=False).shape[0]
    t = randint(1, s.T + 1, B, generator=generator, device=x_0.device)
    eps = randn_like(x_0, generator)
    x_t = q_sample(s, x_0, t, eps)
    eps_hat = check_model_output(eps_theta(x_t, t), x_t, "eps_theta", finite=False)
    return torch.mean((eps - eps_hat) ** 2)


def coding_rate_bpd(bound: dict[str, Tensor]) -> Tensor:
    """Bits/dim a receiver has been sent once it holds x_t, for t = T..0 (Ho et al. 2020, Sec. 4.3, Alg. 3-4).

        R(t) = L_T + sum_{s=t+1..T} L_{s-1},     R(T) = L_T,     R(0) = the whole bound
    Sending x_T costs L_T; sending x_{s-1} given x_s costs L_{s-1} (the relative-entropy code of
    Alg. 3); the last step, x_0 given x_1, costs L_0. bound: the dict of `vlb_terms_bpd`.
    Returns (B, T + 1) whose column t is R(t) (the paper's index convention). Lesson 07.
    """
    if not (
        isinstance(bound, dict)
        and all(isinstance(bound.get(k), Tensor) for k in ("prior", "terms"))
    ):
        raise ValueError(
            "bound must hold 'prior' (B,) and 'terms' (B, T) tensors, as vlb_terms_bpd "
            f"returns, got {type(bound).__name__}"
        )
    prior, terms = bound["prior"], bound["terms"]
    if terms.ndim != 2 or prior.shape != terms.shape[:1]:
        raise ValueError(
            f"bound must hold 'prior' (B,) and 'terms' (B, T), got {tuple(prior.shape)} "
            f"and {tuple(terms.shape)}"
        )
    sent_after = terms.flip(1).cumsum(1).flip(1)  # column t-1: sum_{s=t..T} term at s
    zero = torch.zeros_like(prior)[:, None]
    return prior[:, None] + torch.cat(
        [sent_after, zero], 1
    )  # column t: sum over s >= t + 1
