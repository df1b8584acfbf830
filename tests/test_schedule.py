"""Schedules: index convention, Eq. 4 / Eq. 7 tables, the cosine definition, respacing."""

import math

import pytest
import torch

import ddpm_lite
from ddpm_lite import Schedule, cosine_schedule, linear_schedule, respace


def test_index_zero_is_clean_data_and_tables_are_float64():
    s = linear_schedule(T=50)
    assert s.T == 50
    for table in (s.beta, s.alpha, s.alpha_bar, s.beta_tilde):
        assert table.dtype == torch.float64 and table.shape == (51,)
    assert (s.beta[0], s.alpha[0], s.alpha_bar[0], s.beta_tilde[0]) == (0, 1, 1, 0)
    assert s.beta_tilde[1] == 0  # alpha_bar_0 = 1: x_0 is known exactly at t = 1


def test_linear_schedule_matches_the_paper():
    s = linear_schedule()
    assert s.T == 1000
    assert math.isclose(s.beta[1].item(), 1e-4) and math.isclose(
        s.beta[1000].item(), 0.02
    )
    steps = torch.diff(s.beta[1:])
    torch.testing.assert_close(
        steps, torch.full_like(steps, (0.02 - 1e-4) / 999), rtol=0, atol=1e-15
    )


def test_tables_satisfy_their_recursions():
    s = linear_schedule(T=200)
    alpha_bar, beta_tilde = 1.0, []
    for t in range(1, 201):  # plain Python, one factor at a time
        prev, alpha_bar = alpha_bar, alpha_bar * (1 - s.beta[t].item())
        assert math.isclose(s.alpha_bar[t].item(), alpha_bar, rel_tol=1e-13)
        beta_tilde.append((1 - prev) / (1 - alpha_bar) * s.beta[t].item())
    torch.testing.assert_close(
        s.beta_tilde[1:],
        torch.tensor(beta_tilde, dtype=torch.float64),
        rtol=1e-13,
        atol=0,
    )


def test_cosine_schedule_matches_its_definition():
    T, s_off = 1000, 0.008
    s = cosine_schedule(T=T, s=s_off)
    f = [
        math.cos((t / T + s_off) / (1 + s_off) * math.pi / 2) ** 2 for t in range(T + 1)
    ]
    # f(T) = 0 forces beta_T = 1, clipped to 0.999; before that no beta is clipped
    assert s.beta[T].item() == pytest.approx(0.999, abs=1e-15)
    assert s.beta[1:T].max() < 0.999
    want = torch.tensor([f[t] / f[0] for t in range(T)], dtype=torch.float64)
    torch.testing.assert_close(s.alpha_bar[:T], want, rtol=1e-11, atol=0)
    assert s.alpha_bar[T].item() == pytest.approx(
        want[T - 1].item() * (1 - 0.999), rel=1e-12
    )


@pytest.mark.parametrize("make", [linear_schedule, cosine_schedule])
def test_respace_keeps_alpha_bar_at_kept_steps(make):
    s = make(T=1000)
    kept = [1000, 1, 7, 250, 500, 999]  # any order: sorted inside
    new, t_map = respace(s, kept)
    assert new.T == len(kept)
    assert t_map.dtype == torch.int64 and t_map.tolist() == [
        0,
        1,
        7,
        250,
        500,
        999,
        1000,
    ]
    # from_beta rebuilds alpha_bar from 1 - beta; with beta near 1 (cosine, t near T) that
    # loses ~eps / (1 - beta) relative, hence 1e-11 rather than 1e-15
    torch.testing.assert_close(new.alpha_bar, s.alpha_bar[t_map], rtol=1e-11, atol=0)
    # the new alpha is the product of the skipped alphas
    for i in range(1, new.T + 1):
        skipped = s.alpha[t_map[i - 1] + 1 : t_map[i] + 1].prod()
        assert new.alpha[i].item() == pytest.approx(skipped.item(), rel=1e-12)


def test_respace_with_every_step_is_the_identity():
    s = linear_schedule(T=100)
    new, t_map = respace(s, range(1, 101))
    torch.testing.assert_close(new.beta, s.beta, rtol=1e-12, atol=1e-16)
    torch.testing.assert_close(new.beta_tilde, s.beta_tilde, rtol=1e-10, atol=1e-16)
    assert t_map.tolist() == list(range(101))


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda: linear_schedule(T=0), "T must be an integer >= 1"),
        (lambda: linear_schedule(T=2.5), "T must be an integer >= 1"),
        (lambda: linear_schedule(beta_T=1.0), r"beta_T must be in \(0.0, 1.0\)"),
        (lambda: Schedule.from_beta([0.1, 0.0]), r"beta must be in \(0.0, 1.0\)"),
        (lambda: Schedule.from_beta([0.5, 1.2]), r"beta must be in \(0.0, 1.0\)"),
        (lambda: Schedule.from_beta([]), "T >= 1"),
        (lambda: cosine_schedule(max_beta=1.0), r"max_beta must be in \(0.0, 1.0\)"),
        (lambda: cosine_schedule(s=-0.1), "s must be >= 0"),
        (
            lambda: respace(linear_schedule(T=10), [0, 5]),
            "timesteps must be distinct integers in 1..T=10",
        ),
        (
            lambda: respace(linear_schedule(T=10), [5, 11]),
            "timesteps must be distinct integers in 1..T=10",
        ),
        (
            lambda: respace(linear_schedule(T=10), [5, 5]),
            "timesteps must be distinct integers in 1..T=10",
        ),
        (lambda: respace(linear_schedule(T=10), []), "timesteps must be a non-empty"),
        (
            lambda: respace(linear_schedule(T=10), [1.5]),
            "timesteps must be a non-empty",
        ),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_parameter(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


def test_gather_refuses_indices_that_wrap_and_integer_data():
    s = ddpm_lite.linear_schedule()
    x = torch.zeros(2, 3)
    assert ddpm_lite.gather(s.alpha_bar, torch.tensor([0, 1000]), x).shape == (2, 1)
    for bad in ([-1, 5], [5, 1001]):
        with pytest.raises(ValueError, match="t must be in 0..T=1000"):
            ddpm_lite.gather(s.alpha_bar, torch.tensor(bad), x)
    with pytest.raises(ValueError, match="floating-point.*int64"):
        ddpm_lite.q_sample(
            s, torch.ones(2, 3, dtype=torch.int64), torch.tensor([5, 5]), x.long()
        )
