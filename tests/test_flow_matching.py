"""Flow matching on the straight path: its velocity, its conversions, and its tie to the PF-ODE."""

import math

import pytest
import torch
from scipy.integrate import solve_ivp

import ddpm_lite
from ddpm_lite.flow_matching import (
    as_step_model,
    eps_from_v,
    eps_from_velocity,
    fm_loss,
    interpolant,
    mixture_velocity,
    sample_flow,
    train_flow_matching,
    v_from_eps_x0,
    velocity_from_eps,
    velocity_target,
    x0_from_v,
    x0_from_velocity,
)

f64 = dict(dtype=torch.float64)
GM = ddpm_lite.GaussianMixture(
    torch.tensor([[-1.0, -0.5], [1.0, 0.0], [0.0, 1.2]], **f64),
    torch.tensor([0.3, 0.4, 0.25], **f64),
    torch.tensor([0.3, 0.4, 0.3], **f64),
)


def test_interpolant_ends_and_its_time_derivative_is_the_target():
    g = torch.Generator().manual_seed(0)
    x_0, eps = (
        torch.randn(5, 3, generator=g, **f64),
        torch.randn(5, 3, generator=g, **f64),
    )
    assert torch.equal(interpolant(x_0, eps, 0.0), x_0) and torch.equal(
        interpolant(x_0, eps, 1.0), eps
    )
    t = torch.rand(5, generator=g, **f64).requires_grad_()
    x_t = interpolant(x_0, eps, t)
    for d in range(3):
        (grad,) = torch.autograd.grad(x_t[:, d].sum(), t, retain_graph=True)
        assert torch.allclose(grad, velocity_target(x_0, eps)[:, d], rtol=0, atol=1e-14)


def test_velocity_conversions_invert_the_path():
    g = torch.Generator().manual_seed(1)
    x_0, eps = (
        torch.randn(6, 2, generator=g, **f64),
        torch.randn(6, 2, generator=g, **f64),
    )
    t = torch.rand(6, generator=g, **f64) * 0.98 + 0.01
    x_t, v = interpolant(x_0, eps, t), velocity_target(x_0, eps)
    assert torch.allclose(x0_from_velocity(x_t, t, v), x_0, atol=1e-13)
    assert torch.allclose(eps_from_velocity(x_t, t, v), eps, atol=1e-13)
    assert torch.allclose(velocity_from_eps(x_t, t, eps), v, atol=1e-12)


def test_v_parameterisation_is_the_angular_velocity_and_inverts():
    g = torch.Generator().manual_seed(2)
    x_0, eps = (
        torch.randn(4, 3, generator=g, **f64),
        torch.randn(4, 3, generator=g, **f64),
    )
    phi = torch.tensor(0.7, **f64, requires_grad=True)
    x = torch.cos(phi) * x_0 + torch.sin(phi) * eps
    v = v_from_eps_x0(torch.cos(phi), torch.sin(phi), eps, x_0)
    (dx,) = torch.autograd.grad((x * v.detach()).sum(), phi)  # <dx/dphi, v>
    assert math.isclose(float(dx), float(v.detach().pow(2).sum()), rel_tol=1e-12)
    a, s = math.cos(0.7), math.sin(0.7)
    assert torch.allclose(x0_from_v(a, s, x.detach(), v.detach()), x_0, atol=1e-13)
    assert torch.allclose(eps_from_v(a, s, x.detach(), v.detach()), eps, atol=1e-13)


def test_mixture_velocity_is_bayes_on_a_grid():
    g = torch.Generator().manual_seed(3)
    grid = torch.linspace(-4, 4, 481, **f64)
    x0 = torch.cartesian_prod(grid, grid)  # (M, 2) quadrature nodes
    log_prior = GM.log_prob(x0)
    x = torch.randn(8, 2, generator=g, **f64)
    for t in (0.2, 0.5, 0.9):
        log_lik = -0.5 * ((x[:, None] - (1 - t) * x0) ** 2).sum(-1) / t**2  # (8, M)
        w = (log_prior + log_lik).softmax(1)
        eps = (x[:, None] - (1 - t) * x0) / t
        u = (w[..., None] * (eps - x0)).sum(1)  # E[eps - x_0 | x_t = x]
        assert torch.allclose(mixture_velocity(GM, x, t), u, rtol=0, atol=1e-8)


def test_mixture_velocity_is_the_noise_prediction_in_disguise():
    # On the straight path, x_t / r with r = sqrt((1-t)^2 + t^2) is a VP point with alpha_bar = ((1-t)/r)^2.
    g = torch.Generator().manual_seed(4)
    x = torch.randn(10, 2, generator=g, **f64)
    for t in (0.1, 0.6):
        r = math.hypot(1 - t, t)
        one_step = ddpm_lite.Schedule.from_beta([1 - ((1 - t) / r) ** 2])
        eps_hat = GM.eps_star(one_step, x / r, torch.ones(10, dtype=torch.int64))
        assert torch.allclose(
            mixture_velocity(GM, x, t), velocity_from_eps(x, t, eps_hat), atol=1e-12
        )


def test_fm_loss_is_the_mean_squared_velocity_error_on_its_own_draws():
    x_0 = torch.randn(7, 2, generator=torch.Generator().manual_seed(5))

    def v_theta(x, t):
        return 0.3 * x + t[:, None]

    g = torch.Generator().manual_seed(9)
    t, eps = torch.rand(7, generator=g), torch.randn(7, 2, generator=g)
    x_t = (1 - t[:, None]) * x_0 + t[:, None] * eps
    expected = (v_theta(x_t, t) - (eps - x_0)).pow(2).mean()
    assert torch.allclose(
        fm_loss(v_theta, x_0, generator=torch.Generator().manual_seed(9)), expected
    )


def vp_flow_time(sde, tau):
    m, std = sde.marginal(tau)
    return float(std / m / (1 + std / m)), float(m)  # t with t/(1-t) = std/m


def test_straight_flow_is_the_rescaled_probability_flow_ode():
    sde = ddpm_lite.VPSDE()
    x_T = torch.randn(50, 2, generator=torch.Generator().manual_seed(6), **f64)
    x_vp, _ = ddpm_lite.sample_pf_ode(
        ddpm_lite.mixture_score_fn(GM, sde),
        sde,
        x_T,
        method="rk45",
        rtol=1e-10,
        atol=1e-10,
        t_eps=1e-3,
        progress=False,
    )
    (t1, m1), (t0, m0) = vp_flow_time(sde, 1.0), vp_flow_time(sde, 1e-3)
    z_1 = (1 - t1) / m1 * x_T

    def f(t, z):
        return (
            mixture_velocity(GM, torch.from_numpy(z).reshape(-1, 2), t)
            .reshape(-1)
            .numpy()
        )

    sol = solve_ivp(
        f, (t1, t0), z_1.reshape(-1).numpy(), method="DOP853", rtol=1e-10, atol=1e-10
    )
    z_0 = torch.from_numpy(sol.y[:, -1]).reshape(-1, 2)
    assert torch.allclose(z_0, (1 - t0) / m0 * x_vp, atol=1e-6)


def test_sample_flow_with_the_exact_velocity_reaches_the_mixture():
    x_1 = torch.randn(4000, 2, generator=torch.Generator().manual_seed(7), **f64)
    exact = sample_flow(
        lambda x, t: mixture_velocity(GM, x, t), x_1, steps=40, method="heun"
    )
    mean = (GM.weights[:, None] * GM.means).sum(0)
    for d in range(2):
        second = (GM.weights * (GM.means[:, d] ** 2 + GM.stds[:, d] ** 2)).sum()
        z_mean, z_var = ddpm_lite.moment_z_scores(
            exact[:, d], float(mean[d]), float(second - mean[d] ** 2)
        )
        assert abs(z_mean) < 5 and abs(z_var) < 5
    fine = sample_flow(
        lambda x, t: mixture_velocity(GM, x, t), x_1[:200], steps=400, method="heun"
    )
    errors = {
        m: float(
            (
                sample_flow(
                    lambda x, t: mixture_velocity(GM, x, t),
                    x_1[:200],
                    steps=n,
                    method=m,
                )
                - fine
            )
            .norm(dim=1)
            .mean()
        )
        for m, n in (("euler", 40), ("heun", 20))
    }
    assert errors["heun"] < errors["euler"] / 3  # same cost, second order wins


def test_sample_flow_evaluates_at_the_grid_times_in_the_samples_dtype():
    """A float64 run asks for v at exactly the float64 grid (0.9, not 0.8999999762)."""
    seen = []

    def v(x, t):
        seen.append(t)
        return torch.zeros_like(x)

    for dtype in (torch.float64, torch.float32):
        seen.clear()
        sample_flow(v, torch.zeros(3, 2, dtype=dtype), steps=10, method="heun")
        grid = torch.linspace(1.0, 0.0, 11, dtype=torch.float64).to(dtype)
        assert all(t.dtype == dtype and t.shape == (3,) for t in seen)
        euler_times = torch.stack([t[0] for t in seen[0::2]])
        assert torch.equal(euler_times, grid[:-1])
    assert seen[2][0].item() != 0.9 and float(grid[1]) == seen[2][0].item()
    seen.clear()
    sample_flow(v, torch.zeros(1, 2, dtype=torch.float64), steps=10)
    assert seen[1][0].item() == 0.9


def test_training_fits_a_gaussian_velocity():
    data = 0.5 * torch.randn(2048, 2, generator=torch.Generator().manual_seed(8)) + 1.0
    torch.manual_seed(0)
    net = ddpm_lite.MLPDenoiser(dim=2, hidden=32, depth=2)
    losses = train_flow_matching(net, data, steps=300, batch_size=128, lr=3e-3)
    assert sum(losses[-50:]) / 50 < sum(losses[:50]) / 50
    x = sample_flow(
        as_step_model(net),
        torch.randn(2000, 2, generator=torch.Generator().manual_seed(1)),
        steps=20,
    )
    assert (x.mean(0) - 1.0).abs().max() < 0.15


def test_bad_inputs_are_named():
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="t must be"):
        interpolant(x, x, 1.5)
    with pytest.raises(ValueError, match="t must be"):
        interpolant(x, x, torch.zeros(4))
    with pytest.raises(ValueError, match="method must be"):
        sample_flow(lambda x, t: x, x, method="rk4")
    with pytest.raises(ValueError, match="steps must be"):
        sample_flow(lambda x, t: x, x, steps=0)
