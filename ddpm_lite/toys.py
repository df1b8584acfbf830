"""Two-dimensional toy data sets, scaled to lie roughly in [-1, 1]^2.

Each returns a float32 tensor of shape (n, 2) drawn with the given ``torch.Generator``, so
that a lesson's data do not depend on the global random state. Used from lesson 00 on.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_positive_int, check_real


def swiss_roll(
    n: int, *, noise: float = 0.02, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Points on the spiral r = theta, theta in [1.5 pi, 4.5 pi], scaled by 1 / (4.5 pi)."""
    check_positive_int(n, "n")
    check_real(noise, "noise", 0.0)
    theta = (
        1.5
        * math.pi
        * (1 + 2 * torch.rand(n, generator=generator, dtype=torch.float64))
    )
    x = torch.stack([theta * torch.cos(theta), theta * torch.sin(theta)], dim=1) / (
        4.5 * math.pi
    )
    return (
        x + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    ).float()


def two_moons(
    n: int, *, noise: float = 0.03, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Two interleaved half circles of radius 1, shifted and scaled into [-1, 1]^2."""
    check_positive_int(n, "n")
    check_real(noise, "noise", 0.0)
    angle = math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    upper = torch.rand(n, generator=generator) < 0.5
    x = torch.where(upper, torch.cos(angle), 1 - torch.cos(angle))
    y = torch.where(upper, torch.sin(angle), 0.5 - torch.sin(angle))
    points = torch.stack([(x - 0.5) / 1.5, (y - 0.25) / 1.5], dim=1)
    return (
        points + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    ).float()


def ring_of_gaussians(
    n: int,
    *,
    k: int = 8,
    radius: float = 0.8,
    std: float = 0.05,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """An equal-weight mixture of ``k`` isotropic Gaussians with centres on a circle."""
    check_positive_int(n, "n")
    check_positive_int(k, "k")
    check_real(radius, "radius", 0.0)
    check_real(std, "std", 0.0)
    which = torch.randint(0, k, (n,), generator=generator)
    angle = 2 * math.pi * which.double() / k
    centres = radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return (
        centres + std * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    ).float()


def checkerboard(
    n: int, *, squares: int = 4, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Uniform points on the dark squares of a ``squares`` x ``squares`` board covering [-1, 1]^2."""
    check_positive_int(n, "n")
    check_positive_int(squares, "squares")
    dark = torch.tensor(
        [(r, c) for r in range(squares) for c in range(squares) if (r + c) % 2 == 0]
    )
    row, col = dark[torch.randint(0, len(dark), (n,), generator=generator)].unbind(1)
    offset = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    points = (torch.stack([col, row], dim=1).double() + offset) * (2 / squares) - 1
    return points.float()


TOYS = {
    "swiss_roll": swiss_roll,
    "two_moons": two_moons,
    "ring": ring_of_gaussians,
    "checkerboard": checkerboard,
}


def toy_data(
    name: str, n: int, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One of the toy sets by name: "swiss_roll", "two_moons", "ring" or "checkerboard"."""
    if name not in TOYS:
        raise ValueError(f"name must be one of {sorted(TOYS)}, got {name!r}")
    return TOYS[name](n, generator=generator)
