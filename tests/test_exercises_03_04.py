"""The checkers of lessons 03 and 04 accept the right answer and reject the classic slips.

Each right answer is computed here independently of the checker, from the package."""

import math

import torch
from torch.special import ndtr

import ddpm_lite
from ddpm_lite.exercises import check


def test_03_kl(capsys):
    right = 0.5 * math.log(2 / 0.5) + (0.5 + 1.0) / (2 * 2.0) - 0.5
    assert check("03-kl", right)
    # a common mistake: the 1/2 dropped
    assert not check("03-kl", right + 0.5 * math.log(4))
    assert "1/2" in " ".join(capsys.readouterr().out.split())
    assert not check("03-kl", "half a nat")


def test_03_prior():
    ab = ddpm_lite.linear_schedule(T=100).alpha_bar[100]
    right = float(0.5 * (-torch.log(1 - ab) - ab + ab) / math.log(2))
    assert check("03-prior", right)
    assert not check("03-prior", right * math.log(2))  # nats, not bits
    assert not check(
        "03-prior",
        float(ddpm_lite.prior_bpd(ddpm_lite.linear_schedule(), torch.tensor([[1.0]]))),
    )


def test_03_decoder(capsys):
    right = float(
        1 - ndtr(torch.tensor((1 - 1 / 255 - 0.98) / 0.02, dtype=torch.float64))
    )
    assert check("03-decoder", right)
    closed = float(
        ndtr(torch.tensor((1 + 1 / 255 - 0.98) / 0.02))
        - ndtr(torch.tensor((1 - 1 / 255 - 0.98) / 0.02))
    )
    assert not check("03-decoder", closed)
    assert "open" in " ".join(capsys.readouterr().out.split())


def test_04_weight(capsys):
    s = ddpm_lite.linear_schedule()
    right = float(s.beta[10] / (2 * s.alpha[10] * (1 - s.alpha_bar[10])))
    assert check("04-weight", right)
    assert not check(
        "04-weight", float(s.beta[10] / (2 * s.alpha_bar[10] * (1 - s.alpha_bar[10])))
    )
    assert "alpha_t, not alpha_bar_t" in " ".join(capsys.readouterr().out.split())


def test_04_reverse_var():
    s = ddpm_lite.linear_schedule()
    # Bayes on a grid for x_0 ~ N(0, 0.25): prior of x_9 times likelihood of one observed x_10.
    grid = torch.linspace(-4, 4, 400_001, dtype=torch.float64)
    v = s.alpha_bar[9] * 0.25 + 1 - s.alpha_bar[9]
    log_post = -(grid**2) / (2 * v) - (0.3 - s.alpha[10].sqrt() * grid) ** 2 / (
        2 * s.beta[10]
    )
    w = torch.softmax(log_post, 0)
    right = float((w * (grid - (w * grid).sum()) ** 2).sum())
    assert check("04-reverse-var", right)
    assert not check("04-reverse-var", float(s.beta[10]))
    assert not check("04-reverse-var", float(s.beta_tilde[10]))


def test_04_score():
    s = ddpm_lite.linear_schedule()

    def right(x_t, t):
        ab = s.alpha_bar[t]
        return (1 - ab).sqrt() * x_t / (0.25 * ab + 1 - ab)

    def wrong(x_t, t):  # forgets the data's variance
        return (1 - s.alpha_bar[t]).sqrt() * x_t

    assert check("04-score", right)
    assert not check("04-score", wrong)
    assert not check("04-score", 3.0)
