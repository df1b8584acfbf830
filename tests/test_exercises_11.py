"""The checkers of lesson 11 (fast solvers): each accepts the right answer, written here from the
formula, and rejects the tempting wrong ones with a useful hint."""

import math

from ddpm_lite.exercises import check


def _coef(lam_s, lam_t):
    alpha_t = math.sqrt(1 / (1 + math.exp(-2 * lam_t)))
    return -alpha_t * math.expm1(-(lam_t - lam_s))


def _d(m_now, m_prev, r):
    return (1 + 1 / (2 * r)) * m_now - 1 / (2 * r) * m_prev


def test_11_coef(capsys):
    assert check("11-coef", _coef)
    assert check(
        "11-coef",
        lambda ls, lt: (
            math.sqrt(1 / (1 + math.exp(2 * lt))) * (math.exp(lt) - math.exp(ls))
        ),
    )  # sigma_t (e^lam_t - e^lam_s)
    assert not check("11-coef", lambda ls, lt: _coef(lt, ls))  # h with the wrong sign
    assert "sign" in " ".join(capsys.readouterr().out.split())
    assert not check(
        "11-coef", lambda ls, lt: 1 - math.exp(-(lt - ls))
    )  # alpha_t missing
    assert not check("11-coef", lambda ls, lt: 1 / 0)  # a raising answer is a verdict
    assert not check("11-coef", 0.5)


def test_11_2m(capsys):
    assert check("11-2m", _d)
    assert not check(
        "11-2m", lambda m_now, m_prev, r: _d(m_now, m_prev, 1 / r)
    )  # r inverted
    assert "r = h_prev / h_now" in " ".join(capsys.readouterr().out.split())
    assert not check("11-2m", lambda m_now, m_prev, r: m_now)  # first order
    assert not check("11-2m", lambda m_now, m_prev, r: _d(m_prev, m_now, r))
    assert not check("11-2m", lambda m_now, m_prev, r: 1 / 0)
    assert not check("11-2m", "D")
