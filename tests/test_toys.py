"""The 2-D toy data sets: shapes, ranges, determinism, and each set's defining geometry."""

import math

import pytest
import torch

import ddpm_lite
from ddpm_lite.toys import TOYS


@pytest.mark.parametrize("name", sorted(TOYS))
def test_shape_range_and_generator(name):
    a = ddpm_lite.toy_data(name, 2000, generator=torch.Generator().manual_seed(1))
    b = ddpm_lite.toy_data(name, 2000, generator=torch.Generator().manual_seed(1))
    assert a.shape == (2000, 2) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert a.abs().max() < 1.3


def test_swiss_roll_lies_on_its_spiral():
    x = ddpm_lite.swiss_roll(
        3000, noise=0.0, generator=torch.Generator().manual_seed(0)
    ).double()
    r = x.norm(dim=1) * 4.5 * math.pi  # radius = theta on the unscaled spiral
    theta = torch.atan2(x[:, 1], x[:, 0])
    assert torch.allclose(torch.cos(r), torch.cos(theta), atol=1e-4)
    assert r.min() >= 1.5 * math.pi - 1e-6 and r.max() <= 4.5 * math.pi + 1e-6


def test_ring_centres_and_spread():
    k, radius, std = 6, 0.8, 0.05
    x = ddpm_lite.ring_of_gaussians(
        6000, k=k, radius=radius, std=std, generator=torch.Generator().manual_seed(0)
    )
    angle = torch.atan2(x[:, 1], x[:, 0]).double()
    nearest = torch.round(angle / (2 * math.pi / k)) * (2 * math.pi / k)
    centre = radius * torch.stack([torch.cos(nearest), torch.sin(nearest)], 1)
    resid = x.double() - centre
    n = resid.numel()
    assert abs(resid.var().item() - std**2) < 5 * std**2 * math.sqrt(2 / n)


def test_checkerboard_only_dark_squares():
    x = ddpm_lite.checkerboard(
        5000, squares=4, generator=torch.Generator().manual_seed(0)
    )
    cells = torch.floor((x + 1) * 2).long().clamp(0, 3)
    assert ((cells[:, 0] + cells[:, 1]) % 2 == 0).all()
    assert len(torch.unique(cells[:, 0] * 4 + cells[:, 1])) == 8


def test_bad_input():
    with pytest.raises(ValueError, match="n must be"):
        ddpm_lite.swiss_roll(0)
    with pytest.raises(ValueError, match="name must be one of"):
        ddpm_lite.toy_data("spiral", 10)
