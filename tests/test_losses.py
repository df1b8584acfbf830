"""KL, the discretized decoder, the prior term, the full bound with the oracle, L_simple."""

import math

import pytest
import torch
from scipy.stats import norm
from torch.distributions import Normal, kl_divergence

from ddpm_lite import (
    GaussianMixture,
    coding_rate_bpd,
    discretized_gaussian_log_likelihood,
    linear_schedule,
    loss_simple,
    normal_kl,
    p_mean_var,
    prior_bpd,
    q_posterior,
    q_sample,
    respace,
    vlb_terms_bpd,
)

LEVELS = torch.linspace(-1, 1, 256, dtype=torch.float64)  # the 8-bit grid in [-1, 1]
F64 = dict(dtype=torch.float64)


def test_normal_kl_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    m1, m2, lv1, lv2 = (
        torch.randn(50, dtype=torch.float64, generator=gen) * 2 for _ in range(4)
    )
    want = kl_divergence(Normal(m1, (0.5 * lv1).exp()), Normal(m2, (0.5 * lv2).exp()))
    torch.testing.assert_close(
        normal_kl(m1, lv1, m2, lv2), want, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize(
    "mean, log_scale",
    [
        (0.0, -3.0),
        (0.3, -6.0),
        (-0.77, -1.0),
        (0.0, 3.0),  # ordinary, narrow, wide
        (1.0, -9.0),
        (-1.0, -9.0),  # at the ends, very narrow
        (5.0, -5.0),
        (-40.0, -4.0),
        (2.0, -12.0),  # far tails
    ],
)
def test_discretized_likelihood_sums_to_one_and_stays_finite(mean, log_scale):
    log_p = discretized_gaussian_log_likelihood(
        LEVELS,
        torch.tensor(mean, dtype=torch.float64),
        torch.tensor(log_scale, dtype=torch.float64),
    )
    assert torch.isfinite(log_p).all()
    assert log_p.exp().sum().item() == pytest.approx(1.0, abs=1e-12)


def test_discretized_likelihood_is_the_normal_mass_of_each_bin():
    """Compare with scipy's CDF where a plain difference is accurate (Eq. 13)."""
    mean, std = 0.2, 0.15
    log_p = discretized_gaussian_log_likelihood(
        LEVELS,
        torch.tensor(mean, dtype=torch.float64),
        torch.tensor(math.log(std), dtype=torch.float64),
    )
    x, d = LEVELS.numpy(), 1 / 255
    hi = norm.cdf((x + d - mean) / std)
    lo = norm.cdf((x - d - mean) / std)
    hi[-1], lo[0] = 1.0, 0.0  # the end bins are open to +-inf
    ok = (hi - lo) > 1e-6  # where scipy's difference is accurate
    torch.testing.assert_close(
        log_p[torch.from_numpy(ok)].exp(),
        torch.from_numpy((hi - lo)[ok]),
        rtol=1e-9,
        atol=0,
    )
    # in the far tail it agrees with the asymptotic log density + log bin width
    x_far, mean_far, std_far = torch.tensor([0.0], dtype=torch.float64), 0.9, 0.01
    got = discretized_gaussian_log_likelihood(
        x_far,
        torch.tensor(mean_far, dtype=torch.float64),
        torch.tensor(math.log(std_far), dtype=torch.float64),
    )
    approx = norm.logpdf(0.0, mean_far, std_far) + math.log(2 * d)
    assert abs(got.item() - approx) / abs(approx) < 0.1  # both about -4e3


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_discretized_likelihood_low_precision(dtype):
    x = LEVELS.to(dtype)
    log_p = discretized_gaussian_log_likelihood(
        x, torch.tensor(0.1, dtype=dtype), torch.tensor(-2.0, dtype=dtype)
    )
    assert log_p.dtype == dtype and torch.isfinite(log_p).all()
    assert log_p.double().exp().sum().item() == pytest.approx(1.0, abs=2e-2)


def test_discretized_likelihood_rejects_bins_below_two():
    with pytest.raises(ValueError, match="bins must be an integer >= 2"):
        discretized_gaussian_log_likelihood(LEVELS, LEVELS, LEVELS, bins=1)


def test_prior_bpd_is_about_1e_minus_5_for_the_linear_schedule():
    """Ho et al. 2020, Sec. 4: L_T ~ 1e-5 bits/dim. Check it against the closed form.

    Per dimension, KL(N(sqrt(ab) x, 1 - ab) || N(0, 1)) = (ab x^2 - ab - log(1 - ab)) / 2,
    ab = alpha_bar_T ~ 4e-5; it grows with x^2, so for data in [-1, 1] it lies between its
    values at x = 0 (~ab^2/4, negligible) and |x| = 1 (~ab/2); at E[x^2] = 1/3 (uniform
    data) it is ~ab/6 nats ~ 1e-5 bits, the paper's figure.
    """
    s = linear_schedule()
    ab = math.prod(1 - (1e-4 + (t - 1) / 999 * (0.02 - 1e-4)) for t in range(1, 1001))
    kl_bits = lambda x2: (
        (ab * x2 - ab - torch.log1p(torch.tensor(-ab, dtype=torch.float64)))
        / 2
        / math.log(2)
    )
    x_0 = (
        torch.rand(
            8, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64
        )
        * 2
        - 1
    )
    got = prior_bpd(s, x_0)
    assert got.shape == (8,)
    torch.testing.assert_close(
        got, kl_bits(x_0**2).mean(dim=(1, 2, 3)), rtol=1e-9, atol=0
    )
    assert ((got > kl_bits(0.0)) & (got < kl_bits(1.0))).all()
    typical = kl_bits(1 / 3).item()
    assert 3e-6 < typical < 3e-5  # "about 1e-5"
    assert ((got > typical / 2) & (got < typical * 2)).all()


def _bin_probabilities(gm):
    """Exact P(level) of a 1-D mixture discretised to LEVELS: its mass on each bin."""
    d = 1 / 255
    lo = torch.where(LEVELS < -1 + 1e-9, -math.inf, LEVELS - d)
    hi = torch.where(LEVELS > 1 - 1e-9, math.inf, LEVELS + d)
    cdf = lambda z: sum(
        w * Normal(m, sd).cdf(z)
        for w, m, sd in zip(gm.weights, gm.means[:, 0], gm.stds[:, 0])
    )
    return cdf(hi) - cdf(lo)


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_vlb_with_the_oracle_bounds_the_exact_discrete_nll(variance):
    """E_x0[L] >= H(P) = E_x0[-log2 P(x_0)], and is within 1 bit/dim of it.

    Every level x_j is evaluated `reps` times and weighted by its exact probability P_j, so
    only the x_t draws are random; the bound is checked to 4 standard errors of that noise.
    T = 100 steps respaced from the paper's schedule keep it fast.
    """
    gm = GaussianMixture(
        torch.tensor([[-0.5], [0.4]]),
        torch.tensor([0.1, 0.15]),
        torch.tensor([1.0, 2.0]),
    )
    P = _bin_probabilities(gm)
    entropy_bits = -(P * P.log()).sum().item() / math.log(2)
    s, _ = respace(linear_schedule(), range(10, 1001, 10))
    reps = 24
    out = vlb_terms_bpd(
        gm.eps_model(s),
        s,
        LEVELS.repeat(reps)[:, None],
        variance=variance,
        generator=torch.Generator().manual_seed(0),
    )
    per_rep = (out["total"].reshape(reps, 256) * P).sum(1)  # (reps,) estimates of E[L]
    bound, se = per_rep.mean().item(), per_rep.std().item() / math.sqrt(reps)
    assert bound > entropy_bits - 4 * se
    assert bound < entropy_bits + 1.0


def test_vlb_terms_layout():
    """Column t-1 holds timestep t; KL terms are >= 0; total = prior + sum of terms."""
    s = linear_schedule(T=20)
    gm = GaussianMixture(torch.zeros(1, 3), torch.tensor([0.5]), torch.ones(1))
    x_0 = LEVELS[
        torch.randint(0, 256, (4, 3), generator=torch.Generator().manual_seed(1))
    ]

    def spoiled_at_7(x_t, t):
        eps_hat = gm.eps_model(s)(x_t, t)
        return eps_hat + 3.0 * (t == 7).to(x_t.dtype)[:, None]

    ref = vlb_terms_bpd(
        gm.eps_model(s),
        s,
        x_0,
        generator=torch.Generator().manual_seed(2),
        batch_size=12,
    )
    bad = vlb_terms_bpd(
        spoiled_at_7, s, x_0, generator=torch.Generator().manual_seed(2), batch_size=12
    )
    assert ref["terms"].shape == (4, 20) and ref["prior"].shape == ref[
        "total"
    ].shape == (4,)
    changed = (bad["terms"] != ref["terms"]).any(0)
    assert changed.tolist() == [i == 6 for i in range(20)]
    assert (ref["terms"][:, 1:] >= 0).all()
    torch.testing.assert_close(ref["total"], ref["prior"] + ref["terms"].sum(1))
    with pytest.raises(ValueError, match="variance must be one of"):
        vlb_terms_bpd(gm.eps_model(s), s, x_0, variance="large")


def test_vlb_terms_take_their_noise():
    """Given noise (B, T, ...), the term at t uses x_t built from noise[:, t - 1]: the same
    whatever the batching, the KL at t recomputed by hand from that x_t, and only that
    column changing when that slice does."""
    s = linear_schedule(T=20)
    gm = GaussianMixture(torch.zeros(1, 3), torch.tensor([0.5]), torch.ones(1))
    eps_model = gm.eps_model(s)
    x_0 = LEVELS[
        torch.randint(0, 256, (4, 3), generator=torch.Generator().manual_seed(1))
    ]
    noise = torch.randn(4, 20, 3, generator=torch.Generator().manual_seed(5), **F64)
    one_step = vlb_terms_bpd(eps_model, s, x_0, noise=noise, batch_size=1)
    chunked = vlb_terms_bpd(eps_model, s, x_0, noise=noise, batch_size=12)
    torch.testing.assert_close(one_step["terms"], chunked["terms"], rtol=0, atol=1e-12)
    t = torch.full((4,), 9)
    x_t = q_sample(s, x_0, t, noise[:, 8])
    mean, _, log_var = p_mean_var(s, eps_model(x_t, t), x_t, t)
    mu_tilde, _ = q_posterior(s, x_0, x_t, t)
    kl = normal_kl(mu_tilde, s.beta_tilde[9].log(), mean, log_var)
    by_hand = kl.mean(1) / math.log(2)  # nats per example -> bits per dimension
    torch.testing.assert_close(chunked["terms"][:, 8], by_hand, rtol=1e-10, atol=0)
    other = noise.clone()
    other[:, 8] = -other[:, 8]
    changed = (
        vlb_terms_bpd(eps_model, s, x_0, noise=other)["terms"] != chunked["terms"]
    ).any(0)
    assert changed.tolist() == [i == 8 for i in range(20)]
    with pytest.raises(ValueError, match=r"noise must have shape \(B, T, ...\)"):
        vlb_terms_bpd(eps_model, s, x_0, noise=noise[:, :19])
    with pytest.raises(ValueError, match="noise or generator, not both"):
        vlb_terms_bpd(
            eps_model, s, x_0, noise=noise, generator=torch.Generator().manual_seed(0)
        )


def test_vlb_decoder_uses_the_data_grid():
    """With bins = 17 (the digits) L_0 is the 17-level decoder of Eq. 13; data off the grid are refused."""
    s = linear_schedule(T=10)
    gm = GaussianMixture(torch.zeros(1, 3), torch.tensor([0.5]), torch.ones(1))
    levels17 = torch.linspace(-1, 1, 17, dtype=torch.float64)
    x_0 = levels17[
        torch.randint(0, 17, (5, 3), generator=torch.Generator().manual_seed(3))
    ]
    out = vlb_terms_bpd(
        gm.eps_model(s),
        s,
        x_0,
        bins=17,
        generator=torch.Generator().manual_seed(4),
        batch_size=5,
    )
    eps = torch.randn(
        x_0.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4)
    )  # the t = 1 draw
    t = torch.ones(5, dtype=torch.int64)
    x_1 = q_sample(s, x_0, t, eps)
    mean, _, log_var = p_mean_var(s, gm.eps_model(s)(x_1, t), x_1, t, variance="beta")
    want = -discretized_gaussian_log_likelihood(x_0, mean, 0.5 * log_var, bins=17).mean(
        1
    ) / math.log(2)
    torch.testing.assert_close(out["terms"][:, 0], want)
    with pytest.raises(ValueError, match="bins = 256"):
        vlb_terms_bpd(
            gm.eps_model(s), s, x_0, generator=torch.Generator().manual_seed(4)
        )  # 17-level data
    with pytest.raises(ValueError, match="bins must be an integer >= 2"):
        vlb_terms_bpd(gm.eps_model(s), s, x_0, bins=1)


def test_coding_rate_counts_the_bits_sent_before_x_t():
    """R(T) = L_T, R(0) = the whole bound, R(t-1) - R(t) = the term at t (sending x_{t-1})."""
    gen = torch.Generator().manual_seed(5)
    bound = {
        "prior": torch.rand(3, generator=gen, dtype=torch.float64),
        "terms": torch.rand(3, 7, generator=gen, dtype=torch.float64),
    }
    bound["total"] = bound["prior"] + bound["terms"].sum(1)
    rate = coding_rate_bpd(bound)
    assert rate.shape == (3, 8)
    torch.testing.assert_close(rate[:, 7], bound["prior"])
    torch.testing.assert_close(rate[:, 0], bound["total"])
    torch.testing.assert_close(rate[:, :-1] - rate[:, 1:], bound["terms"])
    with pytest.raises(ValueError, match="bound must hold"):
        coding_rate_bpd({"prior": bound["prior"], "terms": bound["terms"][0]})


def test_loss_simple_is_the_mean_squared_noise_error():
    s = linear_schedule(T=50)
    x_0 = torch.rand(64, 2, dtype=torch.float64) * 2 - 1
    zero = lambda x_t, t: torch.zeros_like(x_t)
    # with eps_theta = 0 the loss is the mean of eps^2: about 1, to a CLT tolerance
    loss = loss_simple(zero, s, x_0, generator=torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and abs(loss.item() - 1) < 5 * math.sqrt(2 / 128)
    # an eps_theta that recovers eps exactly from (x_t, t) gets zero loss (x_0 is known here)
    seen = {}

    def cheat(x_t, t):
        seen["t"] = t
        ab = s.alpha_bar[t][:, None]
        return (x_t - ab.sqrt() * x_0) / (1 - ab).sqrt()

    loss = loss_simple(cheat, s, x_0, generator=torch.Generator().manual_seed(0))
    assert loss.item() < 1e-20
    assert (
        seen["t"].dtype == torch.int64
        and seen["t"].min() >= 1
        and seen["t"].max() <= 50
    )
    low = loss_simple(
        zero, s, x_0.bfloat16(), generator=torch.Generator().manual_seed(0)
    )
    assert low.dtype == torch.bfloat16


def test_loss_simple_draws_t_uniformly_from_1_to_T():
    s, n = linear_schedule(T=5), 4000
    seen = {}

    def record(x_t, t):
        seen["t"] = t
        return torch.zeros_like(x_t)

    loss_simple(
        record, s, torch.zeros(n, 1), generator=torch.Generator().manual_seed(0)
    )
    counts = torch.bincount(seen["t"], minlength=6)
    assert counts[0] == 0 and len(counts) == 6  # never 0, never > T
    p = 1 / 5
    assert ((counts[1:] - n * p).abs() < 5 * (n * p * (1 - p)) ** 0.5).all()  # CLT
