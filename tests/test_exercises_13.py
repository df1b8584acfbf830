"""The checkers of lesson 13: each accepts the right answer, written here from the formula, and rejects
the tempting wrong ones with a useful hint."""

import torch

from ddpm_lite.exercises import check


def test_13_x0_from_v(capsys):
    assert check("13-x0-from-v", lambda a, s, x, v: a * x - s * v)
    assert not check("13-x0-from-v", lambda a, s, x, v: a * x + s * v)
    assert "sign" in " ".join(capsys.readouterr().out.split())
    assert not check("13-x0-from-v", lambda a, s, x, v: s * x + a * v)  # that is eps
    assert "that is eps" in " ".join(capsys.readouterr().out.split())
    assert not check("13-x0-from-v", lambda a, s, x, v: x - s * v)  # alpha forgotten
    assert not check("13-x0-from-v", lambda a, s, x, v: 1 / 0)
    assert not check("13-x0-from-v", "a * x - s * v")


def test_13_velocity_from_x0(capsys):
    assert check("13-velocity-from-x0", lambda x, t, x0: (x - x0) / t)
    assert not check(
        "13-velocity-from-x0", lambda x, t, x0: (x0 - x) / t
    )  # data at t = 1 convention
    assert "direction is reversed" in " ".join(capsys.readouterr().out.split())
    assert not check("13-velocity-from-x0", lambda x, t, x0: (x - x0) / (1 - t))
    assert not check("13-velocity-from-x0", lambda x, t, x0: x - x0)
    assert not check("13-velocity-from-x0", lambda x, t, x0: 1 / 0)


def _patchify(x, p):
    B, C, H, W = x.shape
    x = x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(B, (H // p) * (W // p), p * p * C)


def test_13_patchify(capsys):
    assert check("13-patchify", _patchify)
    assert check(
        "13-patchify",
        lambda x, p: (
            torch.nn.functional.unfold(x.permute(0, 1, 2, 3), p, stride=p)
            .reshape(x.shape[0], x.shape[1], p, p, -1)
            .permute(0, 4, 2, 3, 1)
            .flatten(2)
        ),
    )
    channel_first = lambda x, p: torch.nn.functional.unfold(x, p, stride=p).transpose(
        1, 2
    )  # noqa: E731
    assert not check("13-patchify", channel_first)
    assert "(row, column, channel)" in " ".join(capsys.readouterr().out.split())
    column_major = lambda x, p: _patchify(x.transpose(2, 3), p)  # noqa: E731
    assert not check("13-patchify", column_major)
    assert not check("13-patchify", lambda x, p: x.flatten(1))
    assert not check("13-patchify", lambda x, p: 1 / 0)
