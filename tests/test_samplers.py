"""DDPM and DDIM samplers: identities, convergence on the exact Gaussian-mixture oracle, bad inputs.

The oracle (a 2-D GaussianMixture with its exact eps_star) stands in for a perfect network,
so every discrepancy left is the sampler's own. Tolerances come from the sample size (CLT)
or from a measured order of convergence.
"""

import math

import pytest
import torch
from _references import order_fit, pf_ode_reference, toy_mixture

from ddpm_lite import linear_schedule, moment_z_scores
from ddpm_lite.dpm_solver import half_log_snr
from ddpm_lite.samplers import (
    ddim_invert,
    ddim_sigma,
    ddim_step,
    ddim_timesteps,
    ddpm_step,
    sample_ddim,
    sample_ddpm,
    slerp,
)

T = 1000
S = linear_schedule(T)
GM = toy_mixture()
MODEL = GM.eps_model(S)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _x_T(n, seed=0):
    return torch.randn(n, 2, generator=_gen(seed), dtype=torch.float64)


def _rmse(a, b):
    return (a - b).pow(2).sum(1).mean().sqrt().item()


# ------------------------------------------------------------------ DDPM
@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_ddpm_with_the_exact_eps_reproduces_the_mixture(variance):
    n = 2000
    x = sample_ddpm(
        MODEL, S, _x_T(n, 1), variance=variance, generator=_gen(2), progress=False
    )
    true = GM.sample(n, generator=_gen(3))
    # mean log-likelihood under the mixture: ours vs true samples, two-sample z (CLT)
    lp, lq = GM.log_prob(x), GM.log_prob(true)
    z = (lp.mean() - lq.mean()) / (lp.var() / n + lq.var() / n).sqrt()
    assert abs(float(z)) < 4.5, (
        f"mean log p: samples {lp.mean():.4f} vs data {lq.mean():.4f}, z={z:.2f}"
    )
    # each coordinate's mean and variance against the mixture's exact moments
    w, mu, sd = GM.weights[:, None], GM.means, GM.stds
    mean = (w * mu).sum(0)
    var = (w * (sd**2 + mu**2)).sum(0) - mean**2
    for d in range(2):
        z_m, z_v = moment_z_scores(x[:, d], float(mean[d]), float(var[d]))
        assert abs(z_m) < 5 and abs(z_v) < 5, (d, z_m, z_v)


def test_ddpm_step_is_mean_plus_sigma_z_and_adds_no_noise_at_t_1():
    x_t, eps, z = (
        torch.randn(5, 3, 2, 2, generator=_gen(i), dtype=torch.float64)
        for i in range(3)
    )
    t = torch.tensor([1, 2, 10, 500, 1000])
    out = ddpm_step(S, eps, x_t, t, noise=z, variance="beta_tilde")
    mean = ddpm_step(S, eps, x_t, t, noise=torch.zeros_like(z), variance="beta_tilde")
    sigma = (out - mean) / z  # (B, 3, 2, 2), constant per row
    expected = S.beta_tilde[t].sqrt()
    expected[0] = 0.0  # Alg. 2, line 3: z = 0 at t = 1
    torch.testing.assert_close(
        sigma.flatten(1).mean(1), expected, rtol=1e-10, atol=1e-12
    )
    # the mean is Eq. 11, written out here from the tables
    ab, a, b = (
        S.alpha_bar[t].view(-1, 1, 1, 1),
        S.alpha[t].view(-1, 1, 1, 1),
        S.beta[t].view(-1, 1, 1, 1),
    )
    torch.testing.assert_close(
        mean, (x_t - b / (1 - ab).sqrt() * eps) / a.sqrt(), rtol=1e-12, atol=1e-12
    )
    # an int t works, and t = 1 needs no noise
    torch.testing.assert_close(
        ddpm_step(S, eps, x_t, 1, noise=None),
        ddpm_step(S, eps, x_t, torch.ones(5, dtype=torch.int64), noise=z),
    )


def test_ddpm_from_t_start_decodes_noised_data_back_to_the_data():
    """x_t ~ q(x_t) (data pushed to t = 400 by Eq. 4), then steps 400..1: the mixture again (CLT).

    The trajectory visits exactly t_start..1, and t_start = T is the default chain."""
    n, t0 = 2000, 400
    x_0 = GM.sample(n, generator=_gen(11))
    ab = S.alpha_bar[t0]
    x_t = ab.sqrt() * x_0 + (1 - ab).sqrt() * torch.randn(
        n, 2, generator=_gen(12), dtype=torch.float64
    )
    x, traj = sample_ddpm(
        MODEL,
        S,
        x_t,
        generator=_gen(13),
        progress=False,
        return_trajectory=True,
        t_start=t0,
    )
    assert traj["t"] == list(range(t0, 0, -1))
    lp, lq = GM.log_prob(x), GM.log_prob(GM.sample(n, generator=_gen(14)))
    z = (lp.mean() - lq.mean()) / (lp.var() / n + lq.var() / n).sqrt()
    assert abs(float(z)) < 4.5, z
    x_T = _x_T(4)
    assert torch.equal(
        sample_ddpm(MODEL, S, x_T, generator=_gen(1), progress=False, t_start=T),
        sample_ddpm(MODEL, S, x_T, generator=_gen(1), progress=False),
    )
    for bad in (0, T + 1, 2.5):
        with pytest.raises(ValueError, match="t_start must be an integer in 1..T"):
            sample_ddpm(MODEL, S, x_T, progress=False, t_start=bad)


def test_ddpm_with_a_start_step_per_row_runs_each_row_from_its_own_step():
    """Rows noised to t = 400 and to t = 150 decode in one batch, each group to the mixture
    (CLT); the model sees only the rows whose chain has begun; equal steps give the int's run."""
    n = 2000
    starts = torch.tensor([400] * n + [150] * n)
    x_0 = GM.sample(2 * n, generator=_gen(21))
    ab = S.alpha_bar[starts][:, None]
    noise = torch.randn(2 * n, 2, generator=_gen(22), dtype=torch.float64)
    seen = []

    def model(x, t):
        seen.append((int(t[0]), len(x)))
        return MODEL(x, t)

    x = sample_ddpm(
        model,
        S,
        ab.sqrt() * x_0 + (1 - ab).sqrt() * noise,
        generator=_gen(23),
        progress=False,
        t_start=starts,
    )
    assert seen == [(t, n) for t in range(400, 150, -1)] + [
        (t, 2 * n) for t in range(150, 0, -1)
    ]
    lq = GM.log_prob(GM.sample(n, generator=_gen(24)))
    for group in (x[:n], x[n:]):
        lp = GM.log_prob(group)
        z = (lp.mean() - lq.mean()) / (lp.var() / n + lq.var() / n).sqrt()
        assert abs(float(z)) < 4.5, z
    x_T = _x_T(4)
    assert torch.equal(
        sample_ddpm(MODEL, S, x_T, generator=_gen(1), progress=False, t_start=300),
        sample_ddpm(
            MODEL,
            S,
            x_T,
            generator=_gen(1),
            progress=False,
            t_start=torch.full((4,), 300),
        ),
    )
    with pytest.raises(ValueError, match=r"t_start must have shape \(4,\)"):
        sample_ddpm(MODEL, S, x_T, progress=False, t_start=torch.full((3,), 9))
    with pytest.raises(ValueError, match="t_start must be integers in 1..T=1000"):
        sample_ddpm(MODEL, S, x_T, progress=False, t_start=torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="return_trajectory needs one t_start"):
        sample_ddpm(
            MODEL,
            S,
            x_T,
            progress=False,
            return_trajectory=True,
            t_start=torch.full((4,), 9),
        )


def test_samplers_are_deterministic_given_x_T_and_the_generator():
    x_T = _x_T(16)
    a = sample_ddim(MODEL, S, x_T, steps=20, eta=1.0, generator=_gen(5), progress=False)
    b = sample_ddim(MODEL, S, x_T, steps=20, eta=1.0, generator=_gen(5), progress=False)
    c = sample_ddim(MODEL, S, x_T, steps=20, eta=1.0, generator=_gen(6), progress=False)
    assert torch.equal(a, b) and not torch.equal(a, c)
    x, traj = sample_ddim(
        MODEL, S, x_T, steps=10, progress=False, return_trajectory=True
    )
    assert (
        traj["t"] == ddim_timesteps(T, 10).tolist()
        and len(traj["x_t"]) == len(traj["x0_hat"]) == 10
    )
    assert torch.equal(traj["x_t"][0], x_T)
    # the last step (t = 1 -> 0, alpha_bar_0 = 1) returns the last x0 prediction
    torch.testing.assert_close(x, traj["x0_hat"][-1], rtol=0, atol=1e-12)


# ------------------------------------------------------------------ DDIM
def test_ddim_with_eta_1_on_the_full_grid_is_the_ddpm_posterior():
    t = torch.arange(1, T + 1)
    sigma = ddim_sigma(S, t, t - 1, 1.0)
    torch.testing.assert_close(
        sigma**2, S.beta_tilde[1:], rtol=1e-10, atol=1e-15
    )  # Eq. 16 = Eq. 7
    # the whole step, with the same noise: DDIM(eta=1, t -> t-1) == ancestral step with beta_tilde
    B = 64
    t = torch.randint(1, T + 1, (B,), generator=_gen(0))
    x_t, eps, z = (
        torch.randn(B, 2, generator=_gen(i), dtype=torch.float64) for i in (1, 2, 3)
    )
    torch.testing.assert_close(
        ddim_step(S, eps, x_t, t, t - 1, eta=1.0, noise=z),
        ddpm_step(S, eps, x_t, t, noise=z, variance="beta_tilde"),
        rtol=1e-9,
        atol=1e-10,
    )


def _pf_ode_x0(x_T):
    lam = half_log_snr(S)
    return pf_ode_reference(GM, lam[T].item(), lam[1].item(), x_T)


def test_ddim_converges_to_the_probability_flow_ode_at_first_order():
    x_T = _x_T(200, 7)
    ref = _pf_ode_x0(x_T)
    steps = [25, 50, 100, 200]
    errors = [
        _rmse(sample_ddim(MODEL, S, x_T, steps=n, progress=False), ref) for n in steps
    ]
    assert all(e1 < e0 for e0, e1 in zip(errors, errors[1:])), errors
    order = order_fit(steps, errors)
    assert 0.8 <= order <= 1.3, (order, errors)
    assert errors[-1] < 0.02, errors


def test_ddim_inversion_then_sampling_returns_the_input():
    x_0 = GM.sample(200, generator=_gen(8))
    steps = [10, 20, 40, 80]
    errors = []
    for n in steps:
        x_T = ddim_invert(MODEL, S, x_0, steps=n, progress=False)
        errors.append(_rmse(sample_ddim(MODEL, S, x_T, steps=n, progress=False), x_0))
    assert all(e1 < 0.7 * e0 for e0, e1 in zip(errors, errors[1:])), errors
    assert 0.7 <= order_fit(steps, errors) <= 1.4 and errors[-1] < 0.03, errors


def test_ddim_timesteps_definitions():
    for n in (1, 7, 50, 999, 1000):
        for spacing in ("leading", "trailing", "linspace", "quadratic"):
            g = ddim_timesteps(T, n, spacing=spacing)
            assert g.dtype == torch.int64 and g.shape == (n,)
            assert (
                int(g.min()) >= 1 and int(g.max()) <= T and bool((g[1:] < g[:-1]).all())
            )
    assert ddim_timesteps(T, 50).tolist() == list(range(981, 0, -20))
    assert ddim_timesteps(T, 50, spacing="trailing").tolist() == list(
        range(1000, 0, -20)
    )
    # quadratic: the DDIM code's int((k sqrt(0.8 T) / (S - 1))^2), shifted to t = 1..T
    c = math.sqrt(0.8 * T)
    assert ddim_timesteps(T, 10, spacing="quadratic").flip(0).tolist() == [
        1 + int((k * c / 9) ** 2) for k in range(10)
    ]
    assert ddim_timesteps(T, 10, spacing="quadratic")[0] == 801


def test_sample_ddim_takes_an_explicit_grid():
    x_T = _x_T(8)
    grid = ddim_timesteps(T, 20, spacing="trailing")
    a = sample_ddim(MODEL, S, x_T, timesteps=grid, progress=False)
    b = sample_ddim(MODEL, S, x_T, steps=20, spacing="trailing", progress=False)
    c = sample_ddim(MODEL, S, x_T, timesteps=grid.tolist(), progress=False)
    assert torch.equal(a, b) and torch.equal(a, c)


# ------------------------------------------------------------------ slerp
def test_slerp():
    z0, z1 = torch.randn(2, 3, 8, 8, generator=_gen(0), dtype=torch.float64)
    torch.testing.assert_close(slerp(z0, z1, 0.0), z0)
    torch.testing.assert_close(slerp(z0, z1, 1.0), z1)
    # equal norms stay equal along the arc; the angle to z0 grows linearly in alpha
    z1 = z1 * z0.norm() / z1.norm()
    alphas = torch.linspace(0, 1, 5)
    path = slerp(z0, z1, alphas)  # (5, 3, 8, 8)
    assert path.shape == (5, 3, 8, 8)
    torch.testing.assert_close(
        path.flatten(1).norm(dim=1), z0.norm().expand(5), rtol=1e-12, atol=0
    )
    theta = torch.arccos((z0.flatten() @ z1.flatten()) / z0.norm() ** 2)
    angles = torch.arccos(
        (path.flatten(1) @ z0.flatten() / z0.norm() ** 2).clamp(-1, 1)
    )
    torch.testing.assert_close(angles, alphas.double() * theta, rtol=1e-6, atol=1e-6)
    # parallel latents: no 0/0, the linear interpolation
    torch.testing.assert_close(slerp(z0, 2 * z0, 0.5), 1.5 * z0)
    assert torch.isfinite(slerp(z0, z0, torch.tensor([0.3, 0.7]))).all()


# ------------------------------------------------------------------ bad inputs
X = torch.zeros(4, 2, dtype=torch.float64)
BAD = [
    (lambda: ddim_timesteps(T, 0), "steps must be an integer in 1..T=1000"),
    (lambda: ddim_timesteps(T, T + 1), "steps must be an integer in 1..T=1000"),
    (lambda: ddim_timesteps(T, 10, spacing="uniform"), "spacing must be one of"),
    (
        lambda: sample_ddim(MODEL, S, X, steps=1001, progress=False),
        "steps must be an integer in 1..T",
    ),
    (lambda: sample_ddim(MODEL, S, X, eta=-0.1, progress=False), "eta must be"),
    (
        lambda: sample_ddim(MODEL, S, X, timesteps=[10, 20], progress=False),
        "timesteps must be strictly descending",
    ),
    (
        lambda: sample_ddim(MODEL, S, X, timesteps=[1001, 20], progress=False),
        "timesteps must be strictly descending integers in 1..T",
    ),
    (
        lambda: sample_ddim(MODEL, S, X, timesteps=[20, 0], progress=False),
        "timesteps must be strictly descending integers in 1..T",
    ),
    (
        lambda: sample_ddim(MODEL, S, X, timesteps=[20.0, 10.0], progress=False),
        "timesteps must be a non-empty",
    ),
    (
        lambda: sample_ddim(MODEL, S, X.clone().fill_(math.nan), progress=False),
        "x_T must be finite",
    ),
    (
        lambda: sample_ddpm(MODEL, S, X.clone().fill_(math.inf), progress=False),
        "x_T must be finite",
    ),
    (
        lambda: sample_ddpm(MODEL, S, X, variance="learned", progress=False),
        "variance must be one of",
    ),
    (
        lambda: ddim_invert(MODEL, S, X, steps=0, progress=False),
        "steps must be an integer in 1..T",
    ),
    (lambda: ddim_step(S, X, X, 10, 10), "t_prev must be smaller than t"),
    (lambda: ddim_step(S, X, X, 1001, 10), "t must be integers in 1..1000"),
    (lambda: ddim_step(S, X, X, 10, -1), "t_prev must be integers in 0..999"),
    (lambda: ddim_step(S, X, X, 10, 5, eta=0.5), "noise must be a tensor"),
    (lambda: ddim_step(S, X, X, 10, 5, eta=-1.0), "eta must be"),
    (lambda: ddim_step(S, X, X, 10, 5, eta=3.0, noise=X), "eta=3.0 is too large"),
    (lambda: ddpm_step(S, X, X, 10, noise=None), "noise must be a tensor"),
    (lambda: ddpm_step(S, X, X, 0, noise=X), "t must be integers in 1..1000"),
    (lambda: ddpm_step(S, X, X, 10.0, noise=X), "t must be an int"),
    (lambda: slerp(X, X[:2], 0.5), "z0 and z1 must have the same shape"),
]


@pytest.mark.parametrize("call, message", BAD, ids=[m for _, m in BAD])
def test_bad_inputs_raise_value_error_naming_the_parameter(call, message):
    with pytest.raises(
        ValueError, match=message.replace("(", r"\(").replace(".", r"\.")
    ):
        call()
