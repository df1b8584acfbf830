"""DPM-Solver++ (2M, 3M): reduction to DDIM, convergence on the oracle, diffusers parity."""

import importlib.util

import pytest
import torch
from _references import (
    diffusers_dpm_solver,
    oracle_x_T,
    order_fit,
    pf_ode_reference,
    pf_ode_states,
    rmse,
    toy_mixture,
)

from ddpm_lite import linear_schedule
from ddpm_lite.dpm_solver import (
    _dpm_solver_pp_update,
    dpm_solver_timesteps,
    half_log_snr,
    sample_dpm_solver,
)
from ddpm_lite.samplers import sample_ddim

T = 1000
S = linear_schedule(T)
GM = toy_mixture()
MODEL = GM.eps_model(S)


_x_T, _rmse = oracle_x_T, rmse


def test_half_log_snr():
    lam = half_log_snr(S)
    assert lam[0] == float("inf") and bool((lam[1:-1] > lam[2:]).all())
    torch.testing.assert_close(
        torch.sigmoid(2 * lam[1:]), S.alpha_bar[1:], rtol=1e-12, atol=0
    )


@pytest.mark.parametrize("spacing", ["diffusers", "logsnr", "uniform"])
def test_first_order_is_ddim_on_the_same_grid(spacing):
    x_T = _x_T(32)
    grid = dpm_solver_timesteps(S, 12, spacing=spacing)
    ours = sample_dpm_solver(MODEL, S, x_T, timesteps=grid, order=1, progress=False)
    ddim = sample_ddim(MODEL, S, x_T, timesteps=grid, progress=False)
    torch.testing.assert_close(ours, ddim, rtol=1e-10, atol=1e-10)
    # ... and the first step of order 2 is that same DDIM step
    _, a = sample_dpm_solver(
        MODEL, S, x_T, timesteps=grid, progress=False, return_trajectory=True
    )
    _, b = sample_ddim(
        MODEL, S, x_T, timesteps=grid, progress=False, return_trajectory=True
    )
    torch.testing.assert_close(a["x_t"][1], b["x_t"][1], rtol=1e-10, atol=1e-10)
    assert not torch.allclose(
        a["x_t"][2], b["x_t"][2], rtol=1e-6, atol=1e-6
    )  # then it differs


def test_the_last_step_to_clean_data_is_the_last_data_prediction():
    x, traj = sample_dpm_solver(
        MODEL, S, _x_T(16), steps=8, progress=False, return_trajectory=True
    )
    assert traj["t"] == dpm_solver_timesteps(S, 8).tolist() and len(traj["x0_hat"]) == 8
    torch.testing.assert_close(x, traj["x0_hat"][-1], rtol=0, atol=0)


def test_dpm_solver_pp_2m_converges_to_the_ode_solution_at_second_order():
    x_T = _x_T(200, 7)
    lam = half_log_snr(S)
    ref = pf_ode_reference(GM, lam[T].item(), lam[1].item(), x_T)
    steps = [10, 20, 40, 80]
    errors = [
        _rmse(
            sample_dpm_solver(MODEL, S, x_T, steps=n, spacing="logsnr", progress=False),
            ref,
        )
        for n in steps
    ]
    order = order_fit(steps, errors)
    assert 1.6 <= order <= 2.6, (order, errors)
    assert errors[-1] < 3e-3, errors
    # the default (diffusers') grid converges too, slower at first: its last model call is at
    # t = round(999 / steps) + 1, from where it jumps to clean data
    e_default = [
        _rmse(sample_dpm_solver(MODEL, S, x_T, steps=n, progress=False), ref)
        for n in (20, 80)
    ]
    assert e_default[1] < e_default[0] / 8 and e_default[1] < 1e-2, e_default


def test_one_step_error_falls_as_h_to_the_order_plus_one():
    """From exact states and data predictions on the ODE path (lambda spaced by h), one
    step of order p is off by O(h^(p+1)): the 3M formula is third order."""
    x_T = _x_T(200, 7)
    hs = [0.4, 0.2, 0.1, 0.05]
    errors = {1: [], 2: [], 3: []}
    for h in hs:
        lams = [-1.0 + k * h for k in range(4)]  # the three past points and the target
        states, predictions = pf_ode_states(GM, -5.0, lams, x_T)
        lam = torch.tensor(lams, dtype=torch.float64)
        alpha, sigma = torch.sigmoid(2 * lam).sqrt(), torch.sigmoid(-2 * lam).sqrt()
        for p in errors:
            x = _dpm_solver_pp_update(
                states[2], predictions[:3], [0, 1, 2], 3, p, lam, alpha, sigma
            )
            errors[p].append(_rmse(x, states[3]))
    slopes = {p: order_fit([1 / h for h in hs], e) for p, e in errors.items()}
    for p, slope in slopes.items():
        assert p + 0.6 <= slope <= p + 1.6, (slopes, errors)
    assert errors[3][-1] < errors[2][-1] < errors[1][-1], errors


def test_dpm_solver_pp_3m_beats_2m_at_every_step_count():
    """A whole 3M run: more accurate than 2M from 20 steps on. Its global order is about 2,
    not 3: the first step, of order 1 (there is no past yet), errs by O(h^2)."""
    x_T = _x_T(200, 7)
    lam = half_log_snr(S)
    ref = pf_ode_reference(GM, lam[T].item(), lam[1].item(), x_T)
    steps = [20, 40, 80]
    errors = {
        p: [
            _rmse(
                sample_dpm_solver(
                    MODEL, S, x_T, steps=n, order=p, spacing="logsnr", progress=False
                ),
                ref,
            )
            for n in steps
        ]
        for p in (2, 3)
    }
    assert all(e3 < 0.5 * e2 for e2, e3 in zip(errors[2], errors[3])), errors
    assert 1.8 <= order_fit(steps, errors[3]) <= 3.2, errors


def test_grids():
    for n in (1, 2, 10, 20, 200, 999, 1000):
        for spacing in ("diffusers", "logsnr", "uniform"):
            g = dpm_solver_timesteps(S, n, spacing=spacing)
            assert g.shape == (n,) and int(g.min()) >= 1 and int(g.max()) <= T
            assert bool((g[1:] < g[:-1]).all()), (n, spacing)
    assert dpm_solver_timesteps(S, 10, spacing="uniform").tolist()[::9] == [1000, 1]
    g = dpm_solver_timesteps(S, 10, spacing="logsnr")
    assert g[0] == T and g[-1] == 1
    lam = half_log_snr(S)[g]
    h = lam[1:] - lam[:-1]  # about equal steps in lambda
    assert float((h - h.mean()).abs().max()) < 0.1 * float(h.mean())


needs_diffusers = pytest.mark.skipif(
    importlib.util.find_spec("diffusers") is None, reason="diffusers not installed"
)


@needs_diffusers
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_default_grid_equals_diffusers_timesteps_plus_one():
    from diffusers import DPMSolverMultistepScheduler

    ref = DPMSolverMultistepScheduler(num_train_timesteps=T)
    # 26, 30, 46, 52: ties like 999 * 13 / 26 = 499.5, which float64 rounds below .5
    for n in list(range(1, 1000, 41)) + [26, 30, 46, 52, 998, 999]:
        ref.set_timesteps(n)
        assert torch.equal(dpm_solver_timesteps(S, n), ref.timesteps + 1), n


@needs_diffusers
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("steps", [5, 10, 14, 15, 20, 25, 50])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_a_whole_run_matches_diffusers_dpm_solver_multistep(steps, order):
    x_T = _x_T(64, 3)
    ours = sample_dpm_solver(MODEL, S, x_T, steps=steps, order=order, progress=False)
    theirs = diffusers_dpm_solver(
        MODEL, S, x_T, steps, order=order, float64=True, keep_float64=True
    )
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-9)  # float64 throughout
    # as shipped, diffusers rounds the running sample to float32 at every step: ~1e-7
    theirs = diffusers_dpm_solver(MODEL, S, x_T, steps, order=order, float64=True)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    # its own float32 tables: still 1e-5
    torch.testing.assert_close(
        ours,
        diffusers_dpm_solver(MODEL, S, x_T, steps, order=order),
        rtol=1e-4,
        atol=1e-5,
    )


@needs_diffusers
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_lower_order_final_is_diffusers_rule():
    """Below 15 steps the step before the last is of order at most 2 (diffusers'
    lower_order_final); without the option, 3M there; from 15 steps the option changes nothing."""
    x_T = _x_T(64, 3)
    theirs = diffusers_dpm_solver(
        MODEL, S, x_T, 10, order=3, float64=True, keep_float64=True
    )
    plain = sample_dpm_solver(
        MODEL, S, x_T, steps=10, order=3, lower_order_final=False, progress=False
    )
    assert (plain - theirs).abs().max() > 1e-6
    kwargs = dict(steps=15, order=3, progress=False)
    assert torch.equal(
        sample_dpm_solver(MODEL, S, x_T, lower_order_final=False, **kwargs),
        sample_dpm_solver(MODEL, S, x_T, **kwargs),
    )


BAD = [
    (dict(order=4), "order must be 1, 2 or 3"),
    (dict(lower_order_final=1), "lower_order_final must be"),
    (dict(steps=0), "steps must be an integer >= 1"),
    (dict(steps=1001), "steps must be an integer in 1..T=1000"),
    (dict(spacing="karras"), "spacing must be one of"),
    (dict(timesteps=[5, 10]), "timesteps must be strictly descending"),
    (
        dict(timesteps=[1001, 10]),
        "timesteps must be strictly descending integers in 1..T=1000",
    ),
]


@pytest.mark.parametrize("kwargs, message", BAD, ids=[m for _, m in BAD])
def test_bad_inputs_raise_value_error_naming_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        sample_dpm_solver(MODEL, S, _x_T(2), progress=False, **kwargs)
    with pytest.raises(ValueError, match="x_T must be finite"):
        sample_dpm_solver(MODEL, S, _x_T(2) / 0, progress=False)
