"""Exact likelihoods through the probability-flow ODE, and bits per dimension."""

import math

import pytest
import torch

from ddpm_lite import GaussianMixture
from ddpm_lite.likelihood import bits_per_dim, ode_bits_per_dim, ode_log_likelihood
from ddpm_lite.sde import VPSDE, mixture_score_fn

F64 = dict(dtype=torch.float64)


def _centred_mixture():
    """A 2-D mixture with mean zero.

    The ODE's likelihood is that of the model whose prior is N(0, I) at t = 1, not p_1 itself;
    log p_1(x) - log N(x; 0, I) ~ m(1) x . E[x_0] with m(1) = 6.6e-3, about 0.01 nats for a
    mixture with mean ~1 (measured). With E[x_0] = 0 the gap is O(m(1)^2) ~ 1e-4.
    """
    means = torch.tensor([[1.0, 0.5], [-1.0, -0.2], [1.0, -0.1]], dtype=torch.float64)
    stds = torch.tensor([[0.1, 0.3], [0.2, 0.2], [0.15, 0.4]], dtype=torch.float64)
    return GaussianMixture(means, stds, torch.tensor([1.0, 2.0, 1.0]))


def test_exact_divergence_likelihood_matches_the_mixture_log_prob():
    gm, sde = _centred_mixture(), VPSDE()
    gen = torch.Generator().manual_seed(0)
    x_0 = torch.cat(
        [
            gm.sample(14, generator=gen),
            torch.tensor([[1.5, 1.0], [0.0, -1.0]], dtype=torch.float64),
        ]
    )
    log_p = ode_log_likelihood(
        mixture_score_fn(gm, sde), sde, x_0, rtol=1e-6, atol=1e-6
    )
    torch.testing.assert_close(log_p, gm.log_prob(x_0), rtol=0, atol=1e-3)
    # a density may exceed 1 (a common mistake: reading it as a probability)
    assert float(log_p.max()) > 0


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_estimate_is_unbiased(probe):
    """One point repeated R times, one probe per copy: the mean over probes is the exact answer."""
    gm, sde, R = _centred_mixture(), VPSDE(), 200
    score_fn = mixture_score_fn(gm, sde)
    x_0 = torch.tensor([[0.9, 0.2]], dtype=torch.float64)
    exact = ode_log_likelihood(score_fn, sde, x_0, rtol=1e-6, atol=1e-6)
    est = ode_log_likelihood(
        score_fn,
        sde,
        x_0.expand(R, 2),
        divergence="hutchinson",
        probe=probe,
        rtol=1e-6,
        atol=1e-6,
        generator=torch.Generator().manual_seed(1),
    )
    assert float(est.std()) > 1e-3  # the probes do vary
    assert abs(float(est.mean() - exact)) < 5 * float(est.std()) / math.sqrt(R)  # CLT


def test_a_given_probe_reproduces_the_drawn_one():
    """probe=v gives exactly the estimate whose probe was drawn as v; another v another one."""
    gm, sde = _centred_mixture(), VPSDE()
    score_fn = mixture_score_fn(gm, sde)
    x_0 = gm.sample(3, generator=torch.Generator().manual_seed(2))
    kwargs = dict(divergence="hutchinson", rtol=1e-6, atol=1e-6)
    drawn = ode_log_likelihood(
        score_fn, sde, x_0, generator=torch.Generator().manual_seed(4), **kwargs
    )
    v = torch.randn(3, 2, generator=torch.Generator().manual_seed(4), **F64).sign()
    assert torch.equal(ode_log_likelihood(score_fn, sde, x_0, probe=v, **kwargs), drawn)
    flipped = v.clone()
    flipped[:, 0] = -flipped[:, 0]
    other = ode_log_likelihood(score_fn, sde, x_0, probe=flipped, **kwargs)
    assert (other - drawn).abs().min() > 1e-6
    with pytest.raises(ValueError, match="probe must have x_0's shape"):
        ode_log_likelihood(score_fn, sde, x_0, probe=v[:2], **kwargs)
    with pytest.raises(ValueError, match='needs divergence="hutchinson"'):
        ode_log_likelihood(score_fn, sde, x_0, probe=v)


def test_bits_per_dim_offset_on_known_answers():
    # A uniform distribution over all bins^D pixel values costs exactly log2(bins) bits per dimension.
    # Its dequantised density is uniform on the cube of side bins * Delta, Delta = 2 / (bins - 1).
    for bins, D in ((256, 3), (16, 5), (2, 1)):
        log_p = torch.tensor(
            [-D * math.log(bins * 2 / (bins - 1))], dtype=torch.float64
        )
        expected = torch.tensor([math.log2(bins)], dtype=torch.float64)
        torch.testing.assert_close(bits_per_dim(log_p, D, bins=bins), expected)
    assert math.isclose(
        float(bits_per_dim(torch.zeros(1, dtype=torch.float64), 1)), math.log2(127.5)
    )


def test_ode_bits_per_dim_of_a_discretised_gaussian():
    """Pixels on a 16-level grid drawn from a discretised N(0, 0.5^2 I) in 2-D: the exact cost of a
    pixel is -log2 of the Gaussian mass of its cell. The ODE density at the grid point times the
    cell volume approximates that mass to O(Delta^2 / sigma^2) (the midpoint rule): < 0.02 bits.
    """
    bins, sigma, sde = 16, 0.5, VPSDE()
    gm = GaussianMixture(
        torch.zeros(1, 2, dtype=torch.float64), torch.tensor([sigma]), torch.ones(1)
    )
    k = torch.tensor([[7, 8], [5, 10], [3, 7], [12, 9], [8, 8]])
    y = 2 * k.double() / (bins - 1) - 1
    delta = 2 / (bins - 1)
    normal = torch.distributions.Normal(0.0, sigma)
    mass = normal.cdf(y + delta / 2) - normal.cdf(y - delta / 2)  # (N, D)
    exact_bpd = -mass.log2().mean(1)
    score_fn = mixture_score_fn(gm, sde)
    bpd = ode_bits_per_dim(
        score_fn, sde, y, bins=bins, dequantize=False, rtol=1e-6, atol=1e-6
    )
    torch.testing.assert_close(bpd, exact_bpd, rtol=0, atol=0.02)
    # Dequantised: y + Delta (u - 1/2), u ~ U[0, 1)^2, centred on the grid point. For a Gaussian,
    # E_u[-log p] = 1/2 log(2 pi sigma^2) + (y^2 + Delta^2 / 12) / (2 sigma^2) per dimension, an upper
    # bound on the exact discrete cost (Jensen). Mean over 64 draws of u vs that, 5 standard errors.
    y_1 = y[3:4].expand(64, 2)  # (0.6, 0.2): off-centre
    deq = ode_bits_per_dim(
        score_fn,
        sde,
        y_1,
        bins=bins,
        rtol=1e-6,
        atol=1e-6,
        generator=torch.Generator().manual_seed(2),
    )
    nats = 0.5 * math.log(2 * math.pi * sigma**2) + (y[3] ** 2 + delta**2 / 12) / (
        2 * sigma**2
    )
    expected = float(nats.mean()) / math.log(2) + math.log2((bins - 1) / 2)
    assert expected > float(exact_bpd[3])
    assert abs(float(deq.mean()) - expected) < 5 * float(deq.std()) / 8


def test_bad_inputs_raise_value_errors_naming_the_parameter():
    gm, sde = _centred_mixture(), VPSDE()
    x = torch.zeros(2, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="divergence"):
        ode_log_likelihood(mixture_score_fn(gm, sde), sde, x, divergence="trace")
    with pytest.raises(ValueError, match="probe"):
        ode_log_likelihood(
            mixture_score_fn(gm, sde), sde, x, divergence="hutchinson", probe="uniform"
        )
    with pytest.raises(ValueError, match="t_eps"):
        ode_log_likelihood(mixture_score_fn(gm, sde), sde, x, t_eps=1.0)
    with pytest.raises(ValueError, match="bins"):
        ode_bits_per_dim(mixture_score_fn(gm, sde), sde, x, bins=1)
