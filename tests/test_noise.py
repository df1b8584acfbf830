"""Random draws that do not depend on the data's device (ddpm_lite._noise)."""

import torch

from ddpm_lite._noise import randint, randn_like


def test_randn_like_follows_x_and_the_generator():
    x = torch.zeros(4, 3, dtype=torch.float64)
    a = randn_like(x, torch.Generator().manual_seed(5))
    b = randn_like(x, torch.Generator().manual_seed(5))
    assert a.shape == x.shape and a.dtype == x.dtype and a.device == x.device
    assert torch.equal(a, b) and not torch.equal(
        a, randn_like(x, torch.Generator().manual_seed(6))
    )
    # The same generator state gives the same numbers whatever the data's dtype.
    c = randn_like(x.float(), torch.Generator().manual_seed(5))
    assert torch.allclose(c.double(), a, atol=1e-6)


def test_randint_range_and_device():
    t = randint(1, 11, 10_000, generator=torch.Generator().manual_seed(0), device="cpu")
    assert t.dtype == torch.int64 and int(t.min()) == 1 and int(t.max()) == 10
