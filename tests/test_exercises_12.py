"""The checkers of lesson 12 (guidance): each accepts the right answer, written here from the
formula, and rejects the tempting wrong ones with a useful hint."""

from ddpm_lite.exercises import check


def test_12_cfg(capsys):
    assert check("12-cfg", lambda c, u, w: (1 + w) * c - w * u)
    assert check(
        "12-cfg", lambda c, u, w: u + (1 + w) * (c - u)
    )  # the gamma form, gamma = 1 + w
    assert not check("12-cfg", lambda c, u, w: u + w * (c - u))  # gamma passed off as w
    assert "w = 0" in " ".join(capsys.readouterr().out.split())
    assert not check(
        "12-cfg", lambda c, u, w: (1 + w) * u - w * c
    )  # the two predictions swapped
    assert not check("12-cfg", lambda c, u, w: (1 + w) * c)  # no unconditional term
    assert not check("12-cfg", lambda c, u, w: 1 / 0)  # a raising answer is a verdict
    assert not check("12-cfg", 1.5)


def test_12_implicit(capsys):
    assert check("12-implicit", lambda c, u, sigma: (u - c) / sigma)
    assert check("12-implicit", lambda c, u, sigma: -(c - u) / sigma)
    assert not check("12-implicit", lambda c, u, sigma: (c - u) / sigma)  # sign flipped
    assert "sign" in " ".join(capsys.readouterr().out.split())
    assert not check("12-implicit", lambda c, u, sigma: u - c)  # sigma forgotten
    assert not check(
        "12-implicit", lambda c, u, sigma: (u - c) * sigma
    )  # sigma on the wrong side
    assert not check("12-implicit", lambda c, u, sigma: 1 / 0)
    assert not check("12-implicit", "grad")
