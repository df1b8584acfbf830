"""The Gaussian-mixture oracle: densities, the exact denoiser eps_star and the score."""

import math

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from ddpm_lite import GaussianMixture, linear_schedule, q_sample

S = linear_schedule()


def _mixture_2d():
    means = torch.tensor([[1.0, 0.5], [-1.0, -0.2], [0.0, 1.2]], dtype=torch.float64)
    stds = torch.tensor([[0.1, 0.3], [0.2, 0.2], [0.05, 0.4]], dtype=torch.float64)
    return GaussianMixture(means, stds, torch.tensor([1.0, 2.0, 1.0]))


def _reference(means, stds, weights):
    return MixtureSameFamily(
        Categorical(probs=weights), Independent(Normal(means, stds), 1)
    )


def test_weights_are_normalised_and_isotropic_stds_expand():
    gm = GaussianMixture(
        torch.zeros(2, 3), torch.tensor([0.5, 2.0]), torch.tensor([1.0, 3.0])
    )
    torch.testing.assert_close(
        gm.weights, torch.tensor([0.25, 0.75], dtype=torch.float64)
    )
    assert gm.stds.shape == (2, 3) and gm.means.dtype == torch.float64


def test_log_prob_and_noised_marginals_match_torch_distributions():
    gm = _mixture_2d()
    x = torch.randn(
        7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    ref = _reference(gm.means, gm.stds, gm.weights)
    torch.testing.assert_close(gm.log_prob(x), ref.log_prob(x), rtol=1e-12, atol=1e-12)
    for t in (1, 50, 1000):
        ab = S.alpha_bar[t]
        ref_t = _reference(
            ab.sqrt() * gm.means, (ab * gm.stds**2 + 1 - ab).sqrt(), gm.weights
        )
        got = gm.log_prob_t(S, x, torch.full((7,), t))
        torch.testing.assert_close(got, ref_t.log_prob(x), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(
            gm.noised(S, t).log_prob(x), got, rtol=1e-12, atol=1e-12
        )


def test_sample_moments_match_the_mixture():
    gm, n = _mixture_2d(), 40_000
    x = gm.sample(n, generator=torch.Generator().manual_seed(1))
    mean = (gm.weights[:, None] * gm.means).sum(0)
    second = (gm.weights[:, None] * (gm.means**2 + gm.stds**2)).sum(0)
    var = second - mean**2
    assert x.shape == (n, 2) and x.dtype == torch.float64
    assert ((x.mean(0) - mean).abs() < 5 * (var / n).sqrt()).all()  # CLT


def test_eps_star_is_minus_sqrt_one_minus_alpha_bar_times_the_autograd_score():
    gm = _mixture_2d()
    gen = torch.Generator().manual_seed(2)
    t = torch.tensor([1, 2, 10, 100, 400, 1000] * 4)
    x_t = q_sample(
        S,
        gm.sample(len(t), generator=gen),
        t,
        torch.randn(len(t), 2, dtype=torch.float64, generator=gen),
    )
    x_t.requires_grad_(True)
    (grad,) = torch.autograd.grad(gm.log_prob_t(S, x_t, t).sum(), x_t)
    x_t = x_t.detach()
    sigma = (1 - S.alpha_bar[t]).sqrt()[:, None]
    torch.testing.assert_close(
        gm.eps_star(S, x_t, t), -sigma * grad, rtol=1e-8, atol=1e-8
    )
    torch.testing.assert_close(gm.score(S, x_t, t), grad, rtol=1e-8, atol=1e-8)


def test_eps_star_is_the_conditional_mean_by_monte_carlo():
    """E[(eps - eps_star(x_t)) g(x_t)] = 0 for any g: the residual is orthogonal to x_t."""
    gm = GaussianMixture(
        torch.tensor([[-0.6], [0.7]]),
        torch.tensor([0.1, 0.25]),
        torch.tensor([1.0, 1.0]),
    )
    gen, n = torch.Generator().manual_seed(3), 40_000
    for t_value in (20, 200):
        t = torch.full((n,), t_value)
        eps = torch.randn(n, 1, dtype=torch.float64, generator=gen)
        x_t = q_sample(S, gm.sample(n, generator=gen), t, eps)
        residual = eps - gm.eps_star(S, x_t, t)
        for g in (
            torch.ones_like(x_t),
            x_t,
            gm.eps_star(S, x_t, t),
            torch.tanh(3 * x_t),
        ):
            prod = residual * g
            assert abs(prod.mean().item()) < 5 * prod.std().item() / math.sqrt(n), (
                t_value
            )
        # the exact denoiser beats a slightly perturbed one
        worse = eps - 1.05 * gm.eps_star(S, x_t, t)
        assert (residual**2).mean() < (worse**2).mean()


def test_eps_model_accepts_int_t_images_and_keeps_dtype():
    gm = GaussianMixture(torch.zeros(2, 4), torch.tensor([0.3, 0.6]), torch.ones(2))
    eps_theta = gm.eps_model(S)
    x = torch.randn(5, 1, 2, 2)  # 4 values per point, as an image
    for dtype in (torch.float64, torch.float32, torch.bfloat16):
        out = eps_theta(x.to(dtype), 10)
        assert out.shape == x.shape and out.dtype == dtype
        torch.testing.assert_close(
            out.double(),
            eps_theta(x.double(), torch.full((5,), 10)),
            rtol=2e-2,
            atol=2e-2,
        )
    assert gm.score(S, x.bfloat16(), torch.full((5,), 3)).dtype == torch.bfloat16


@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: GaussianMixture(
                torch.zeros(2, 3), torch.tensor([1.0, -1.0]), torch.ones(2)
            ),
            "stds must be",
        ),
        (
            lambda: GaussianMixture(
                torch.zeros(2, 3), torch.ones(2), torch.tensor([1.0, 0.0])
            ),
            "weights must be",
        ),
        (
            lambda: GaussianMixture(torch.zeros(2, 3), torch.ones(3), torch.ones(2)),
            r"stds must have shape \(K,\)=\(2,\)",
        ),
        (
            lambda: GaussianMixture(torch.zeros(2, 3), torch.ones(2), torch.ones(3)),
            r"weights must have shape \(K,\)=\(2,\)",
        ),
        (
            lambda: GaussianMixture(torch.zeros(3), torch.ones(3), torch.ones(3)),
            r"means must have shape \(K, D\)",
        ),
        (
            lambda: GaussianMixture(
                torch.zeros(2, 3), torch.ones(2), torch.ones(2)
            ).log_prob(torch.zeros(4, 2)),
            "x must hold D=3 values",
        ),
        (
            lambda: GaussianMixture(
                torch.zeros(2, 3), torch.ones(2), torch.ones(2)
            ).eps_star(S, torch.zeros(4, 3), torch.zeros(4, dtype=torch.int64)),
            "t must be integers in 1..T=1000",
        ),
        (
            lambda: GaussianMixture(
                torch.zeros(2, 3), torch.ones(2), torch.ones(2)
            ).sample(0),
            "n must be",
        ),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_parameter(make, match):
    with pytest.raises(ValueError, match=match):
        make()
