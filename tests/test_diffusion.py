"""Forward process, posterior, parameterisations and p_mean_var, checked against exact answers."""

import math

import pytest
import sympy as sp
import torch

from ddpm_lite import (
    eps_from_x0,
    linear_schedule,
    p_mean_var,
    q_posterior,
    q_sample,
    x0_from_eps,
)

S = linear_schedule()  # the paper's schedule, T = 1000


def _t(*values):
    return torch.tensor(values, dtype=torch.int64)


def _closed_form_moments(t):
    """Mean coefficient and variance of q(x_t | x_0), read off q_sample (linear in x_0, eps)."""
    tt, one = torch.tensor([t]), torch.ones(1, dtype=torch.float64)
    return q_sample(S, one, tt, 0 * one).item(), q_sample(
        S, 0 * one, tt, one
    ).item() ** 2


def test_closed_form_matches_the_one_step_chain_exactly_in_moments():
    """Eq. 4 against the moment recursion of x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) eps."""
    coef, var = 1.0, 0.0
    for t in range(1, S.T + 1):
        coef, var = (
            math.sqrt(S.alpha[t]) * coef,
            S.alpha[t].item() * var + S.beta[t].item(),
        )
        want_coef, want_var = _closed_form_moments(t)
        assert coef == pytest.approx(want_coef, rel=1e-12) and var == pytest.approx(
            want_var, rel=1e-12
        )


def test_closed_form_matches_iterating_the_one_step_chain_by_monte_carlo():
    """Run the chain itself on n samples; compare moments with a CLT tolerance (5 s.e.)."""
    n, x_0 = 10_000, 0.8
    gen = torch.Generator().manual_seed(0)
    x = torch.full((n,), x_0, dtype=torch.float64)
    for t in range(1, S.T + 1):
        x = S.alpha[t].sqrt() * x + S.beta[t].sqrt() * torch.randn(
            n, generator=gen, dtype=torch.float64
        )
        if t in (1, 2, 10, 100, 1000):
            coef, var = _closed_form_moments(t)
            se_mean, se_var = math.sqrt(var / n), var * math.sqrt(2 / (n - 1))  # CLT
            assert abs(x.mean().item() - coef * x_0) < 5 * se_mean, t
            assert abs(x.var().item() - var) < 5 * se_var, t


def test_posterior_is_bayes_rule_on_a_grid():
    """q(x_{t-1} | x_t, x_0) ∝ q(x_t | x_{t-1}) q(x_{t-1} | x_0), normalised numerically."""
    y = torch.linspace(-6, 6, 200_001, dtype=torch.float64)  # grid over x_{t-1}
    gen = torch.Generator().manual_seed(1)
    for t in (2, 3, 10, 500, 1000):
        x_0 = torch.rand(1, generator=gen, dtype=torch.float64) * 2 - 1
        x_t = q_sample(
            S, x_0, _t(t), torch.randn(1, generator=gen, dtype=torch.float64)
        )
        a, ab_prev = S.alpha[t], S.alpha_bar[t - 1]
        log_w = -((x_t - a.sqrt() * y) ** 2) / (2 * (1 - a)) - (
            y - ab_prev.sqrt() * x_0
        ) ** 2 / (2 * (1 - ab_prev))
        w = torch.softmax(log_w, 0)
        grid_mean = (w * y).sum()
        grid_var = (w * (y - grid_mean) ** 2).sum()
        mu, var = q_posterior(S, x_0, x_t, _t(t))
        assert mu.item() == pytest.approx(grid_mean.item(), rel=1e-9, abs=1e-12), t
        assert var.item() == pytest.approx(grid_var.item(), rel=1e-7), t


def test_posterior_at_t_equal_1_is_a_point_mass_at_x_0():
    x_0, x_t = (
        torch.randn(3, 2, dtype=torch.float64),
        torch.randn(3, 2, dtype=torch.float64),
    )
    mu, var = q_posterior(S, x_0, x_t, _t(1, 1, 1))
    torch.testing.assert_close(mu, x_0, rtol=0, atol=1e-12)  # 1 - alpha_bar_1 rounds
    assert var.shape == (3, 1) and (var == 0).all()


def test_posterior_by_completing_the_square_in_sympy():
    """Derive mean and variance from the log of the product, then compare to q_posterior."""
    y, x0, xt = sp.symbols("y x_0 x_t", real=True)
    a, ab_prev = sp.symbols("alpha_t alpha_bar_prev", positive=True)
    log_joint = -((xt - sp.sqrt(a) * y) ** 2) / (2 * (1 - a)) - (
        y - sp.sqrt(ab_prev) * x0
    ) ** 2 / (2 * (1 - ab_prev))
    poly = sp.Poly(sp.expand(log_joint), y)  # -y^2 / (2 var) + y mean / var + const
    A, B = -2 * poly.coeff_monomial(y**2), poly.coeff_monomial(y)
    var_sym, mean_sym = sp.simplify(1 / A), sp.simplify(B / A)
    # Eq. 7 written with alpha_bar_t = alpha_t alpha_bar_{t-1}, beta_t = 1 - alpha_t
    ab, beta = a * ab_prev, 1 - a
    eq7_mean = (
        sp.sqrt(ab_prev) * beta / (1 - ab) * x0
        + sp.sqrt(a) * (1 - ab_prev) / (1 - ab) * xt
    )
    assert sp.simplify(mean_sym - eq7_mean) == 0
    assert sp.simplify(var_sym - (1 - ab_prev) / (1 - ab) * beta) == 0
    # ...and the package agrees with the derived expressions at schedule values
    f_mean = sp.lambdify((x0, xt, a, ab_prev), mean_sym)
    f_var = sp.lambdify((a, ab_prev), var_sym)
    for t, v0, vt in [(2, 0.3, -0.2), (40, -0.9, 1.4), (999, 0.5, 0.1)]:
        args = (S.alpha[t].item(), S.alpha_bar[t - 1].item())
        mu, var = q_posterior(
            S,
            torch.tensor([v0], dtype=torch.float64),
            torch.tensor([vt], dtype=torch.float64),
            _t(t),
        )
        assert mu.item() == pytest.approx(f_mean(v0, vt, *args), rel=1e-12)
        assert var.item() == pytest.approx(f_var(*args), rel=1e-10)


def _random_batch(seed=0, shape=(6, 3, 4)):
    gen = torch.Generator().manual_seed(seed)
    x_0 = torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1
    eps = torch.randn(shape, generator=gen, dtype=torch.float64)
    t = torch.tensor([1, 2, 10, 300, 999, 1000])
    return x_0, eps, t, q_sample(S, x_0, t, eps)


def test_x0_from_eps_and_eps_from_x0_invert_q_sample():
    x_0, eps, t, x_t = _random_batch()
    torch.testing.assert_close(x0_from_eps(S, x_t, t, eps), x_0, rtol=0, atol=1e-11)
    torch.testing.assert_close(eps_from_x0(S, x_t, t, x_0), eps, rtol=0, atol=1e-11)


def test_eps_form_of_the_mean_equals_the_posterior_mean():
    """Eq. 11 with the true eps is exactly mu_tilde(x_0, x_t) of Eq. 7."""
    x_0, eps, t, x_t = _random_batch(1)
    mu_tilde, _ = q_posterior(S, x_0, x_t, t)
    for variance in ("beta", "beta_tilde"):
        mean, _, _ = p_mean_var(S, eps, x_t, t, variance=variance)
        torch.testing.assert_close(mean, mu_tilde, rtol=0, atol=1e-12)
        mean_clip, _, _ = p_mean_var(S, eps, x_t, t, variance=variance, clip_x0=True)
        torch.testing.assert_close(
            mean_clip, mu_tilde, rtol=0, atol=1e-12
        )  # x_0 in [-1, 1]


def test_common_mistake_prefactor_one_over_sqrt_alpha_bar_is_wrong():
    """A common mistake: the prefactor is 1/sqrt(alpha_t), not 1/sqrt(alpha_bar_t)."""
    x_0, eps, t, x_t = _random_batch(2)
    mu_tilde, _ = q_posterior(S, x_0, x_t, t)
    shape = (-1, 1, 1)
    coef = (S.beta[t] / (1 - S.alpha_bar[t]).sqrt()).reshape(shape)
    wrong = (x_t - coef * eps) / S.alpha_bar[t].sqrt().reshape(shape)
    correct = (x_t - coef * eps) / S.alpha[t].sqrt().reshape(shape)
    torch.testing.assert_close(correct, mu_tilde, rtol=0, atol=1e-12)
    gap = (wrong - mu_tilde).abs().amax(dim=(1, 2))
    assert (gap[1:] > 1e-5).all() and (gap[3:] > 0.1).all()  # equal only at t = 1


def test_clip_x0_clamps_the_predicted_x0():
    x_0, eps, t, x_t = _random_batch(3)
    wild_eps = eps * 5  # pushes x0_hat outside [-1, 1]
    x0_hat = x0_from_eps(S, x_t, t, wild_eps)
    assert (x0_hat.abs() > 1).any()
    mean, _, _ = p_mean_var(S, wild_eps, x_t, t, clip_x0=True)
    want, _ = q_posterior(S, x0_hat.clamp(-1, 1), x_t, t)
    torch.testing.assert_close(mean, want, rtol=0, atol=1e-12)


def test_p_mean_var_variances():
    x_t = torch.zeros(4, 2, dtype=torch.float64)
    t = torch.tensor([1, 2, 500, 1000])
    _, var, log_var = p_mean_var(S, x_t, x_t, t, variance="beta")
    torch.testing.assert_close(var, log_var.exp(), rtol=1e-15, atol=0)
    want = torch.stack([S.beta_tilde[2], S.beta[2], S.beta[500], S.beta[1000]]).reshape(
        4, 1
    )
    torch.testing.assert_close(var, want, rtol=1e-13, atol=0)
    _, var, log_var = p_mean_var(S, x_t, x_t, t, variance="beta_tilde")
    torch.testing.assert_close(var, log_var.exp(), rtol=1e-15, atol=0)
    want = torch.stack(
        [S.beta_tilde[2], S.beta_tilde[2], S.beta_tilde[500], S.beta_tilde[1000]]
    )
    torch.testing.assert_close(var, want.reshape(4, 1), rtol=1e-13, atol=0)
    assert torch.isfinite(log_var).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_functions_keep_low_precision_dtypes(dtype):
    x_0, eps, t, x_t = _random_batch(4)
    lo = [v.to(dtype) for v in (x_0, eps, x_t)]
    tol = {torch.float32: 1e-4, torch.bfloat16: 5e-2}[dtype]
    outputs = {
        "q_sample": (q_sample(S, lo[0], t, lo[1]), q_sample(S, x_0, t, eps)),
        "q_posterior": (
            q_posterior(S, lo[0], lo[2], t)[0],
            q_posterior(S, x_0, x_t, t)[0],
        ),
        "eps_from_x0": (eps_from_x0(S, lo[2], t, lo[0]), eps_from_x0(S, x_t, t, x_0)),
        "p_mean_var": (
            p_mean_var(S, lo[1], lo[2], t)[0],
            p_mean_var(S, eps, x_t, t)[0],
        ),
    }
    for name, (low, ref) in outputs.items():
        assert low.dtype == dtype, name
        torch.testing.assert_close(low.double(), ref, rtol=tol, atol=tol * 10, msg=name)
    assert x0_from_eps(S, lo[2], t, lo[1]).dtype == dtype
    assert all(v.dtype == dtype for v in p_mean_var(S, lo[1], lo[2], t, clip_x0=True))


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda x, t: q_sample(S, x, torch.tensor([0, 1]), x),
            r"t must be integers in 1..T=1000",
        ),
        (
            lambda x, t: q_sample(S, x, torch.tensor([1, 1001]), x),
            r"t must be integers in 1..T=1000",
        ),
        (
            lambda x, t: q_sample(S, x, torch.tensor([1.0, 2.0]), x),
            r"t must be integers in 1..T=1000",
        ),
        (
            lambda x, t: q_sample(S, x, torch.tensor([1, 2, 3]), x),
            r"t must have shape \(2,\)",
        ),
        (lambda x, t: q_sample(S, x, t, x[:, :2]), "x_0, eps must have the same shape"),
        (lambda x, t: q_posterior(S, x, x[:1], t), "x_0, x_t must have the same shape"),
        (lambda x, t: x0_from_eps(S, x, t, x.T), "x_t, eps must have the same shape"),
        (
            lambda x, t: eps_from_x0(S, x, torch.tensor([5, 0]), x),
            "t must be integers in 1..T=1000",
        ),
        (
            lambda x, t: p_mean_var(S, x, x, t, variance="learned"),
            "variance must be one of",
        ),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_parameter(call, match):
    x, t = torch.zeros(2, 3), torch.tensor([1, 2])
    with pytest.raises(ValueError, match=match):
        call(x, t)
