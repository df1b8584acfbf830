"""The checkers of lesson 08 (DDIM): each accepts the right answer, written here from the
formula, and rejects the tempting wrong ones with a useful hint."""

import pytest
import torch

from ddpm_lite.exercises import check


def _sigma(s, t, t_prev, eta):
    a_t, a_s = s.alpha_bar[t], s.alpha_bar[t_prev]
    return eta * ((1 - a_s) / (1 - a_t)).sqrt() * (1 - a_t / a_s).sqrt()


def test_08_sigma(capsys):
    assert check("08-sigma", _sigma)
    assert not check(
        "08-sigma", lambda s, t, t_prev, eta: _sigma(s, t, t_prev, eta) ** 2
    )
    assert "sigma^2" in " ".join(capsys.readouterr().out.split())
    assert not check("08-sigma", lambda s, t, t_prev, eta: eta * s.beta_tilde[t].sqrt())
    assert "consecutive" in " ".join(capsys.readouterr().out.split())
    assert not check(
        "08-sigma", lambda s, t, t_prev, eta: 1 / 0
    )  # a raising answer is a verdict
    assert not check("08-sigma", 0.1)


def test_08_eta_max(capsys):
    def eta_max(s, t, t_prev):
        a_t, a_s = s.alpha_bar[t], s.alpha_bar[t_prev]
        return float(((1 - a_t) / (1 - a_t / a_s)).sqrt())

    assert check("08-eta-max", eta_max)
    assert check(
        "08-eta-max",
        lambda s, t, t_prev: torch.tensor(eta_max(s, t, t_prev), dtype=torch.float64),
    )
    assert not check("08-eta-max", lambda s, t, t_prev: eta_max(s, t, t_prev) ** 2)
    assert "square root" in " ".join(capsys.readouterr().out.split())
    assert not check("08-eta-max", lambda s, t, t_prev: 1.0)
    assert not check("08-eta-max", lambda s, t, t_prev: "1")


def test_08_invert(capsys):
    def up(s, eps, x_s, t, t_prev):
        a_t, a_s = s.alpha_bar[t], s.alpha_bar[t_prev]
        x0_hat = (x_s - (1 - a_s).sqrt() * eps) / a_s.sqrt()
        return a_t.sqrt() * x0_hat + (1 - a_t).sqrt() * eps

    assert check("08-invert", up)
    assert not check("08-invert", lambda s, eps, x_s, t, t_prev: x_s)
    assert "does not return x_s" in " ".join(capsys.readouterr().out.split())

    def up_wrong_index(s, eps, x_s, t, t_prev):  # uses t - 1, not t_prev
        return up(s, eps, x_s, t, t - 1)

    assert not check("08-invert", up_wrong_index)
    assert not check("08-invert", lambda s, eps, x_s, t, t_prev: x_s[:, :1])


@pytest.mark.parametrize("name", ["08-sigma", "08-eta-max", "08-invert"])
def test_checkers_are_registered(name):
    from ddpm_lite.exercises import EXERCISES

    assert name in EXERCISES
