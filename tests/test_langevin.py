"""Langevin dynamics and annealed Langevin dynamics (Song & Ermon 2019)."""

import math

import pytest
import torch

from ddpm_lite import GaussianMixture
from ddpm_lite.langevin import annealed_langevin, langevin, noise_ladder


def test_langevin_reaches_the_moments_of_a_gaussian():
    """N(mu, diag(s^2)) with score -(x - mu) / s^2. Unadjusted Langevin is biased: its exact
    stationary law is N(mu, s^2 / (1 - eps / (4 s^2))), which is what the z-tests compare with
    (the bias, 0.3% and 0.03% of the variance here, is below their resolution anyway)."""
    mu = torch.tensor([1.0, -2.0], dtype=torch.float64)
    s = torch.tensor([0.5, 1.5], dtype=torch.float64)
    eps, n = 0.01, 4000
    x = langevin(
        lambda x: -(x - mu) / s**2,
        torch.zeros(n, 2, dtype=torch.float64),
        step_size=eps,
        n_steps=2000,
        generator=torch.Generator().manual_seed(0),
    )  # 2000 eps >> 2 s^2: mixed
    var = s**2 / (1 - eps / (4 * s**2))
    for d in range(2):
        xd = x[:, d]
        z_mean = (xd.mean() - mu[d]) / (var[d] / n).sqrt()
        z_var = (xd.var() - var[d]) / (var[d] * math.sqrt(2 / n))  # Gaussian 4th moment
        assert abs(float(z_mean)) < 5 and abs(float(z_var)) < 5, (d, z_mean, z_var)


def test_noise_ladder_is_geometric_and_decreasing():
    sigmas = noise_ladder(1.0, 0.01, 10)
    assert sigmas.shape == (10,) and sigmas.dtype == torch.float64
    torch.testing.assert_close(
        sigmas[[0, -1]], torch.tensor([1.0, 0.01], dtype=torch.float64)
    )
    ratios = sigmas[1:] / sigmas[:-1]
    torch.testing.assert_close(
        ratios, torch.full((9,), 0.01 ** (1 / 9), dtype=torch.float64)
    )


def _noise_conditional_score(gm):
    """grad_x log p_sigma for p_sigma = gm convolved with N(0, sigma^2 I), in closed form.

    Each component becomes N(mu_k, (s_k^2 + sigma^2) I); the score is sum_k r_k (mu_k - x) / V_k.
    """

    def score_fn(x, sigma):
        V = gm.stds[:, 0] ** 2 + sigma**2  # (K,), isotropic
        diff = gm.means - x[:, None]  # (B, K, D)
        log_joint = (
            gm.weights.log() - 0.5 * (diff**2).sum(-1) / V - V.log()
        )  # D = 2: log V^(D/2)
        r = (log_joint - log_joint.amax(1, keepdim=True)).exp()
        r = r / r.sum(1, keepdim=True)
        return (r[..., None] * diff / V[:, None]).sum(1)

    return score_fn


def test_annealed_langevin_weighs_the_modes_where_plain_langevin_cannot():
    """Modes at (-3, 0) and (3, 0) with weights 0.2 and 0.8, separated by ~12 standard deviations.

    Plain Langevin never crosses between them, so each chain keeps the mode of its starting
    basin: from a symmetric start, about half land in each. Annealing from sigma_1 = 6 (the
    distance between the modes, as Song & Ermon 2020 advise, Technique 1) lets the chains mix
    while the modes still overlap. Tolerance: 5 CLT standard errors (0.045 at n = 2000). Finite annealing leaves a
    small bias (measured: 0.790 +- 0.003 with n = 20000), inside that margin.
    """
    gm = GaussianMixture(
        torch.tensor([[-3.0, 0.0], [3.0, 0.0]], dtype=torch.float64),
        torch.tensor([0.5, 0.5]),
        torch.tensor([0.2, 0.8]),
    )
    score_fn, n, gen = (
        _noise_conditional_score(gm),
        2000,
        torch.Generator().manual_seed(1),
    )
    x_init = (
        16 * torch.rand(n, 2, dtype=torch.float64, generator=gen) - 8
    )  # uniform, as in Alg. 1
    sigmas = noise_ladder(6.0, 0.1, 10)
    x = annealed_langevin(
        score_fn, x_init, sigmas, eps=2e-3, steps_per_level=100, generator=gen
    )
    plain = langevin(
        lambda x: score_fn(x, 0.1), x_init, step_size=2e-3, n_steps=1000, generator=gen
    )
    tol = 5 * math.sqrt(0.2 * 0.8 / n)
    assert abs(float((x[:, 0] > 0).double().mean()) - 0.8) < tol
    assert abs(float((plain[:, 0] > 0).double().mean()) - 0.8) > 0.2
    right = x[x[:, 0] > 0]  # and the right mode's shape
    assert abs(float(right[:, 0].mean()) - 3.0) < 5 * 0.51 / math.sqrt(len(right))


def test_bad_inputs_raise_value_errors_naming_the_parameter():
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="step_size"):
        langevin(lambda x: -x, x, step_size=-0.1, n_steps=10)
    with pytest.raises(ValueError, match="n_steps"):
        langevin(lambda x: -x, x, step_size=0.1, n_steps=0)
    with pytest.raises(ValueError, match="sigmas"):
        annealed_langevin(lambda x, s: -x, x, [0.1, 1.0])
    with pytest.raises(ValueError, match="sigmas"):
        annealed_langevin(lambda x, s: -x, x, [1.0, 1.0])
    with pytest.raises(ValueError, match="eps"):
        annealed_langevin(lambda x, s: -x, x, [1.0, 0.1], eps=0.0)
    with pytest.raises(ValueError, match="sigma_1"):
        noise_ladder(0.01, 1.0, 10)
    with pytest.raises(ValueError, match="L "):
        noise_ladder(1.0, 0.01, 1)
