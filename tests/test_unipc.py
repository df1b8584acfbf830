"""UniPC (UniP-p with UniC, bh1 and bh2): its weights, its orders on the oracle, diffusers parity."""

import importlib.util
import math

import pytest
import torch
from _references import (
    diffusers_unipc,
    oracle_x_T,
    order_fit,
    pf_ode_reference,
    rmse,
    toy_mixture,
)

from ddpm_lite import linear_schedule
from ddpm_lite.dpm_solver import dpm_solver_timesteps, half_log_snr, sample_dpm_solver
from ddpm_lite.unipc import sample_unipc, unipc_weights

T = 1000
S = linear_schedule(T)
GM = toy_mixture()
MODEL = GM.eps_model(S)
needs_diffusers = pytest.mark.skipif(
    importlib.util.find_spec("diffusers") is None, reason="diffusers not installed"
)


_x_T, _rmse = oracle_x_T, rmse


def _phi(j, z, terms=40):
    # phi_j(z) = sum_k z^k / (k + j)!, from its power series (not the recursion)
    return sum(z**k / math.factorial(k + j) for k in range(terms))


@pytest.mark.parametrize("variant", ["bh1", "bh2"])
@pytest.mark.parametrize("rs", [[-0.7, 1.0], [-0.8, -1.9, 1.0], [-1.2, -2.1]])
def test_weights_solve_the_order_conditions(variant, rs):
    """sum_k rho_k r_k^(j-1) B(h) = j! (-h) phi_{j+1}(-h), the phi's from their series."""
    h = 0.37
    rho, B = unipc_weights(rs, h, variant)
    assert B == pytest.approx(-h if variant == "bh1" else math.expm1(-h), rel=1e-15)
    for j in range(1, len(rs) + 1):
        lhs = sum(w * r ** (j - 1) for w, r in zip(rho, rs)) * B
        rhs = math.factorial(j) * (-h) * _phi(j + 1, -h)
        assert lhs == pytest.approx(rhs, rel=1e-12), (j, lhs, rhs)


def test_a_single_weight_is_one_half():
    assert unipc_weights([1.0], 0.3, "bh2")[0] == [0.5]
    assert unipc_weights([-0.6], 0.3, "bh1")[0] == [0.5]


@pytest.mark.parametrize("spacing", ["diffusers", "logsnr"])
def test_order_one_predictor_is_ddim_and_unip2_bh2_is_dpm_solver_2m(spacing):
    """UniP-1 is the first-order exponential step (DDIM); UniP-2 with B = e^{-h} - 1 and
    rho = 1/2 is algebraically DPM-Solver++ 2M."""
    x_T = _x_T(64, 1)
    kw = dict(steps=12, spacing=spacing, corrector=False, progress=False)
    for order in (1, 2):
        torch.testing.assert_close(
            sample_unipc(MODEL, S, x_T, order=order, **kw),
            sample_dpm_solver(
                MODEL, S, x_T, steps=12, spacing=spacing, order=order, progress=False
            ),
            rtol=0,
            atol=1e-12,
        )


def test_unic_1_is_the_trapezoid_corrector():
    """Order 1 with the corrector: each step is redone with (m_{i-1} + m_i) / 2."""
    x_T = _x_T(64, 2)
    grid = dpm_solver_timesteps(S, 8, spacing="logsnr").tolist()
    lam, ab = half_log_snr(S), S.alpha_bar
    alpha, sigma = ab.sqrt(), (1 - ab).sqrt()
    x, m_prev, x_prev, t_prev = x_T, None, None, None
    for i, t in enumerate(grid):
        m = (x - sigma[t] * MODEL(x, torch.full((64,), t))) / alpha[t]
        if m_prev is not None:
            e = math.expm1(-float(lam[t] - lam[t_prev]))
            x = sigma[t] / sigma[t_prev] * x_prev - alpha[t] * e * (m_prev + m) / 2
        if i == len(grid) - 1:
            break
        t_prev, t_next = t, grid[i + 1]
        e = math.expm1(-float(lam[t_next] - lam[t]))
        x_prev, m_prev = x, m
        x = sigma[t_next] / sigma[t] * x - alpha[t_next] * e * m
    ours = sample_unipc(MODEL, S, x_T, timesteps=grid, order=1, progress=False)
    torch.testing.assert_close(ours, m, rtol=0, atol=1e-12)


@pytest.mark.parametrize("variant", ["bh1", "bh2"])
def test_orders_on_the_oracle(variant):
    """Against the exact probability-flow ODE: UniP-p alone is of order p, with UniC of
    order p + 1 (fitted on 20-80 steps of the log-SNR grid)."""
    x_T = _x_T(200, 7)
    lam = half_log_snr(S)
    ref = pf_ode_reference(GM, lam[T].item(), lam[1].item(), x_T)
    steps = [20, 40, 80]
    for corrector in (False, True):
        for order in (1, 2, 3):
            errors = [
                _rmse(
                    sample_unipc(
                        MODEL,
                        S,
                        x_T,
                        steps=n,
                        order=order,
                        variant=variant,
                        corrector=corrector,
                        spacing="logsnr",
                        progress=False,
                    ),
                    ref,
                )
                for n in steps
            ]
            expected = order + corrector
            fitted = order_fit(steps, errors)
            assert expected - 0.4 <= fitted <= expected + 0.9, (
                corrector,
                order,
                fitted,
                errors,
            )


@needs_diffusers
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("steps", [5, 10, 14, 15, 20, 25, 50])
@pytest.mark.parametrize("variant", ["bh1", "bh2"])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_a_whole_run_matches_diffusers_unipc_multistep(steps, variant, order):
    x_T = _x_T(64, 3)
    for corrector in (True, False):
        kw = dict(order=order, variant=variant, corrector=corrector)
        ours = sample_unipc(MODEL, S, x_T, steps=steps, progress=False, **kw)
        theirs = diffusers_unipc(MODEL, S, x_T, steps, float64=True, **kw)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-9)


@needs_diffusers
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_against_diffusers_own_float32_tables():
    x_T = _x_T(64, 3)
    ours = sample_unipc(MODEL, S, x_T, steps=10, order=3, progress=False)
    torch.testing.assert_close(
        ours, diffusers_unipc(MODEL, S, x_T, 10, order=3), rtol=1e-4, atol=1e-5
    )


@needs_diffusers
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_lower_order_final_is_diffusers_rule():
    """The step from t_i has order at most M - i; without the option, the full order up to
    the last step (which is always of order 1)."""
    x_T = _x_T(64, 3)
    theirs = diffusers_unipc(MODEL, S, x_T, 20, order=3, float64=True)
    plain = sample_unipc(
        MODEL, S, x_T, steps=20, order=3, lower_order_final=False, progress=False
    )
    assert (plain - theirs).abs().max() > 1e-6
    assert torch.isfinite(plain).all()
    # order 1 has nothing to lower
    kw = dict(steps=9, order=1, progress=False)
    assert torch.equal(
        sample_unipc(MODEL, S, x_T, lower_order_final=False, **kw),
        sample_unipc(MODEL, S, x_T, **kw),
    )


def test_trajectory_records_each_model_call():
    x_T = _x_T(16, 4)
    x_0, traj = sample_unipc(
        MODEL, S, x_T, steps=6, order=2, progress=False, return_trajectory=True
    )
    assert traj["t"] == dpm_solver_timesteps(S, 6).tolist()
    assert torch.equal(traj["x_t"][0], x_T) and torch.equal(x_0, traj["x0_hat"][-1])


BAD = [
    (dict(order=0), "order must be an integer 1, 2 or 3"),
    (dict(order=4), "order must be an integer 1, 2 or 3"),
    (dict(variant="bh3"), "variant must be one of"),
    (dict(corrector=1), "corrector must be True or False"),
    (dict(lower_order_final="yes"), "lower_order_final must be True or False"),
    (dict(steps=0), "steps must be an integer >= 1"),
    (dict(steps=1001), "steps must be an integer in 1..T=1000"),
    (dict(spacing="karras"), "spacing must be one of"),
    (dict(timesteps=[5, 10]), "timesteps must be strictly descending"),
]


@pytest.mark.parametrize("kwargs, message", BAD, ids=[m for _, m in BAD])
def test_bad_inputs_raise_value_error_naming_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        sample_unipc(MODEL, S, _x_T(2), progress=False, **kwargs)
    with pytest.raises(ValueError, match="x_T must be finite"):
        sample_unipc(MODEL, S, _x_T(2) / 0, progress=False)
