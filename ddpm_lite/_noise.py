"""Random draws that do not depend on where the data live.

Noise is drawn on the generator's device (the CPU when no generator is given) and then
moved to the data's device, so a CPU `torch.Generator` gives the same numbers whether
the model runs on a CPU or a GPU, and passing one never fails on CUDA.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def randn_like(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Standard normal noise of x's shape and dtype, on x's device."""
    return torch.randn(
        x.shape, generator=generator, dtype=x.dtype, device=_device(generator)
    ).to(x.device)


def randint(
    low: int,
    high: int,
    n: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> Tensor:
    """n integers uniform in low..high-1 (int64), on `device`."""
    return torch.randint(
        low, high, (n,), generator=generator, device=_device(generator)
    ).to(device)
