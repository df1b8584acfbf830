"""The checkers of lesson 07 (what the model learned): each accepts the right answer, written here
from the formula, and rejects the tempting wrong ones with a useful hint."""

import math

import torch
from scipy.stats import norm

from ddpm_lite.exercises import check
from ddpm_lite.samplers import slerp


def _rate(prior, terms):
    after = terms.flip(1).cumsum(1).flip(1)  # column t-1: terms at t..T
    return prior[:, None] + torch.cat([after, torch.zeros_like(prior)[:, None]], 1)


def test_07_rate(capsys):
    assert check("07-rate", _rate)
    assert not check("07-rate", lambda p, t: _rate(p, t)[:, 1:])  # wrong shape
    assert not check(
        "07-rate", lambda p, t: torch.cat([_rate(p, t)[:, :1], _rate(p, t)[:, :-1]], 1)
    )  # R(t) counts t
    assert "off by one" in " ".join(capsys.readouterr().out.split())
    assert not check(
        "07-rate", lambda p, t: _rate(p, t).flip(1)
    )  # sent from x_0 upwards
    assert "reversed" in " ".join(capsys.readouterr().out.split())
    assert not check("07-rate", lambda p, t: 1 / 0)
    assert not check("07-rate", 3.0)


def test_07_decoder(capsys):
    def bits(d):
        return -math.log2(
            norm.cdf((0.5 + d - 0.45) / 0.05) - norm.cdf((0.5 - d - 0.45) / 0.05)
        )

    assert check("07-decoder", bits(1 / 16))
    assert not check("07-decoder", bits(1 / 255))  # a bin of the 8-bit width
    assert not check("07-decoder", bits(1 / 16) * math.log(2))
    assert "nats" in " ".join(capsys.readouterr().out.split())
    assert not check("07-decoder", "0.3")


def test_07_mix(capsys):
    def keep_variance(a, b, lam):
        return ((1 - lam) * a + lam * b) / math.sqrt((1 - lam) ** 2 + lam**2)

    assert check("07-mix", keep_variance)
    assert check(
        "07-mix", lambda a, b, lam: slerp(a, b, lam)
    )  # on the sphere: also unit variance
    assert not check("07-mix", lambda a, b, lam: (1 - lam) * a + lam * b)
    assert "plain linear mix" in " ".join(capsys.readouterr().out.split())
    assert not check("07-mix", lambda a, b, lam: a)  # ignores eps_b
    assert not check(
        "07-mix", lambda a, b, lam: (a + b) / math.sqrt(2)
    )  # wrong at the ends
    assert not check("07-mix", lambda a, b, lam: None)
