"""A Gaussian mixture whose noised marginals, score and optimal denoiser are exact.

If x_0 ~ sum_k w_k N(mu_k, diag(sigma_k^2)), then by Eq. 4 of Ho et al. 2020 every
marginal q_t(x_t) is again a mixture, with means sqrt(alpha_bar_t) mu_k and variances
alpha_bar_t sigma_k^2 + (1 - alpha_bar_t). So the best possible eps_theta is known in
closed form: samplers and likelihood bounds can be tested with no training.
Used in lessons 03 and 04.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ._checks import check_floating, check_positive_int, check_steps, check_timesteps
from .schedule import Schedule


@dataclass(frozen=True, eq=False)
class GaussianMixture:
    """sum_k w_k N(mu_k, diag(sigma_k^2)) in D dimensions, stored in float64.

    means: (K, D); stds: (K,) isotropic or (K, D) diagonal, positive (stored as (K, D));
    weights: (K,) positive, normalised to sum to 1 on construction.
    Points x may be (N, D) or (N, ...) with prod(...) = D (e.g. 8x8 images).
    """

    means: Tensor
    stds: Tensor
    weights: Tensor

    def __post_init__(self) -> None:
        means = torch.as_tensor(self.means, dtype=torch.float64)
        stds = torch.as_tensor(self.stds, dtype=torch.float64)
        weights = torch.as_tensor(self.weights, dtype=torch.float64)
        if means.ndim != 2:
            raise ValueError(f"means must have shape (K, D), got {tuple(means.shape)}")
        K, D = means.shape
        if stds.shape not in ((K,), (K, D)):
            raise ValueError(
                f"stds must have shape (K,)=({K},) or (K, D)=({K}, {D}) to match "
                f"means, got {tuple(stds.shape)}"
            )
        if weights.shape != (K,):
            raise ValueError(
                f"weights must have shape (K,)=({K},) to match means, got "
                f"{tuple(weights.shape)}"
            )
        if K < 1 or D < 1:
            raise ValueError(
                f"means must hold K >= 1 means of D >= 1 values, got {(K, D)}"
            )
        if not bool(torch.isfinite(means).all()):
            raise ValueError("means must be finite")
        if not bool((stds > 0).all()) or not bool(torch.isfinite(stds).all()):
            raise ValueError("stds must be finite and > 0")
        if not bool((weights > 0).all()) or not bool(torch.isfinite(weights).all()):
            raise ValueError("weights must be finite and > 0")
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "stds", stds.reshape(K, -1).expand(K, D).clone())
        object.__setattr__(self, "weights", weights / weights.sum())

    @property
    def dim(self) -> int:
        """D, the dimension of one point."""
        return self.means.shape[1]

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """n independent draws, float64 of shape (n, D): pick k ~ w, then mu_k + sigma_k z."""
        check_positive_int(n, "n")
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.means[k] + self.stds[k] * z

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) = logsumexp_k [log w_k + log N(x; mu_k, diag(sigma_k^2))], shape (N,)."""
        x64 = self._flat(x)
        return self._log_joint(x64, x64.new_ones(1, 1, 1)).logsumexp(1).to(x.dtype)

    def noised(self, s: Schedule, t: int) -> GaussianMixture:
        """The marginal q_t as a mixture: means sqrt(ab) mu_k, stds sqrt(ab sigma_k^2 + 1 - ab)."""
        ab = s.alpha_bar[check_timesteps(torch.tensor([t]), s.T)].item()
        return GaussianMixture(
            math.sqrt(ab) * self.means,
            (ab * self.stds**2 + 1 - ab).sqrt(),
            self.weights,
        )

    def log_prob_t(self, s: Schedule, x_t: Tensor, t: Tensor) -> Tensor:
        """log q_t(x_t), the density of x_t = sqrt(alpha_bar_t) x_0 + sqrt(1-alpha_bar_t) eps.

        x_t: (N, ...), t: int64 (N,) in 1..T. Returns (N,) in x_t's dtype.
        """
        x64, ab = self._flat(x_t), self._alpha_bar(s, t, x_t)
        return self._log_joint(x64, ab).logsumexp(1).to(x_t.dtype)

    def eps_star(self, s: Schedule, x_t: Tensor, t: Tensor) -> Tensor:
        """The exact optimal noise prediction E[eps | x_t] (minimiser of Eq. 14 at each t).

            r_k(x_t) = w_k N(x_t; sqrt(ab) mu_k, V_k) / q_t(x_t),  V_k = ab sigma_k^2 + 1 - ab
            E[eps | x_t, k] = sqrt(1 - ab) (x_t - sqrt(ab) mu_k) / V_k     (Tweedie, per k)
            eps_star = sum_k r_k E[eps | x_t, k]

        x_t: (N, ...), t: int64 (N,) in 1..T. Returns x_t's shape and dtype. Lesson 04.
        """
        return self._eps_star64(s, x_t, t).reshape(x_t.shape).to(x_t.dtype)

    def score(self, s: Schedule, x_t: Tensor, t: Tensor) -> Tensor:
        """The score grad_x log q_t(x_t) = -eps_star / sqrt(1 - alpha_bar_t).

        Tweedie's formula; Ho et al. 2020, Sec. 3.2 note that eps_theta is a scaled score.
        x_t: (N, ...), t: int64 (N,) in 1..T. Returns x_t's shape and dtype. Lesson 04.
        """
        ab = self._alpha_bar(s, t, x_t).reshape(-1, 1)  # (N, 1)
        score = -self._eps_star64(s, x_t, t) / (1 - ab).sqrt()
        return score.reshape(x_t.shape).to(x_t.dtype)

    def eps_model(self, s: Schedule) -> Callable[[Tensor, Tensor | int], Tensor]:
        """eps_star as a model: a callable (x_t, t) -> eps, t an int64 (N,) tensor or an int."""

        def eps_theta(x_t: Tensor, t: Tensor | int) -> Tensor:
            t = check_steps(t, "t", 1, s.T, batch=check_floating(x_t, "x_t").shape[0])
            return self.eps_star(s, x_t, t.to(x_t.device))

        return eps_theta

    def _eps_star64(self, s: Schedule, x_t: Tensor, t: Tensor) -> Tensor:
        x64, ab = self._flat(x_t), self._alpha_bar(s, t, x_t)  # (N, D), (N, 1, 1)
        means, stds = self.means.to(x64.device), self.stds.to(x64.device)
        r = self._log_joint(x64, ab).softmax(1).unsqueeze(-1)  # (N, K, 1)
        var = ab * stds**2 + (1 - ab)  # (N, K, D)
        eps_k = (1 - ab).sqrt() * (x64[:, None] - ab.sqrt() * means) / var
        return (r * eps_k).sum(1)  # (N, D)

    def _flat(self, x: Tensor) -> Tensor:
        """x as float64 (N, D) on its own device (autograd still flows through it)."""
        check_floating(x, "x")
        if x.ndim < 1:
            raise ValueError(f"x must have shape (N, ...), got {tuple(x.shape)}")
        x64 = x.double().reshape(x.shape[0], -1)
        if x64.shape[1] != self.dim:
            raise ValueError(
                f"x must hold D={self.dim} values per point, got {tuple(x.shape)}"
            )
        return x64

    def _alpha_bar(self, s: Schedule, t: Tensor, x: Tensor) -> Tensor:
        check_timesteps(t, s.T, batch=x.shape[0])
        return s.alpha_bar[t.cpu()].to(x.device).reshape(-1, 1, 1)  # (N, 1, 1) float64

    def _log_joint(self, x: Tensor, ab: Tensor) -> Tensor:
        """log w_k + log N(x; sqrt(ab) mu_k, ab sigma_k^2 + 1 - ab), shape (N, K)."""
        means, stds, weights = (
            v.to(x.device) for v in (self.means, self.stds, self.weights)
        )
        var = ab * stds**2 + (1 - ab)  # (N, K, D)
        sq = (x[:, None] - ab.sqrt() * means) ** 2 / var
        log_n = -0.5 * (sq + var.log() + math.log(2 * math.pi)).sum(-1)
        return weights.log() + log_n
