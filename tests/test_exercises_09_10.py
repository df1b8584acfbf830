"""The checkers of lessons 09 (scores, Langevin) and 10 (SDE and ODE): each accepts the right
answer, written here from the formula, and rejects the tempting wrong ones with a useful hint."""

import math

import pytest
import torch

from ddpm_lite.exercises import check


def test_09_peak(capsys):
    assert check(
        "09-peak", 1 / math.sqrt(2 * math.pi)
    )  # 1 / (2 pi s^2) = 1 at the mean
    assert not check("09-peak", 1 / (2 * math.pi))  # the variance, not the std
    assert "variance" in " ".join(capsys.readouterr().out.split())
    assert not check("09-peak", 1.0)
    assert not check("09-peak", "0.4")


def test_09_ula_variance(capsys):
    assert check("09-ula-variance", lambda s2, eps: s2 / (1 - eps / (4 * s2)))
    assert not check("09-ula-variance", lambda s2, eps: s2)  # ignores the bias
    assert "biased" in " ".join(capsys.readouterr().out.split())
    assert not check("09-ula-variance", lambda s2, eps: s2 / (1 - eps / (2 * s2)))
    assert not check(
        "09-ula-variance", lambda s2, eps: 1 / 0
    )  # a raising answer is a verdict
    assert not check("09-ula-variance", 0.09)


def test_09_dsm_target(capsys):
    assert check("09-dsm-target", lambda x_tilde, x, sigma: -(x_tilde - x) / sigma**2)
    assert not check(
        "09-dsm-target", lambda x_tilde, x, sigma: (x_tilde - x) / sigma**2
    )
    assert "sign" in " ".join(capsys.readouterr().out.split())
    assert not check("09-dsm-target", lambda x_tilde, x, sigma: -(x_tilde - x) / sigma)
    assert "sigma^2" in " ".join(capsys.readouterr().out.split())
    assert not check(
        "09-dsm-target", lambda x_tilde, x, sigma: -(x_tilde - x)[:, :1] / sigma**2
    )


def test_10_m1(capsys):
    assert check("10-m1", math.exp(-(0.1 + 20.0) / 2))  # exp(-int_0^1 beta)
    from ddpm_lite import linear_schedule

    assert not check("10-m1", float(linear_schedule().alpha_bar[-1]))
    assert "discrete" in " ".join(capsys.readouterr().out.split())
    assert not check("10-m1", math.exp(-(0.1 + 20.0) / 4))  # m(1), not squared
    assert not check("10-m1", None)


def test_10_pf_drift(capsys):
    def drift(x, t, score):
        sigma = 0.01 * (50 / 0.01) ** t
        return (
            -(sigma**2) * math.log(50 / 0.01) * score
        )  # -1/2 g^2 score, g^2 = 2 sigma^2 log

    assert check("10-pf-drift", drift)
    assert not check("10-pf-drift", lambda x, t, score: 2 * drift(x, t, score))
    assert "reverse SDE" in " ".join(capsys.readouterr().out.split())
    assert not check(
        "10-pf-drift", lambda x, t, score: -0.5 * (0.01 * 5000**t) ** 2 * score
    )
    assert "g(t) is not sigma(t)" in " ".join(capsys.readouterr().out.split())
    assert not check("10-pf-drift", lambda x, t, score: torch.zeros_like(x))


@pytest.mark.parametrize(
    "name", ["09-peak", "09-ula-variance", "09-dsm-target", "10-m1", "10-pf-drift"]
)
def test_checkers_are_registered(name):
    from ddpm_lite.exercises import EXERCISES

    assert name in EXERCISES
