"""The latent-diffusion first stage: shapes, the latent scale, and that training reconstructs."""

import pytest
import torch

import ddpm_lite
from ddpm_lite.autoencoder import (
    Autoencoder,
    latent_scale,
    reconstruction_mse,
    train_autoencoder,
)


def test_shapes_and_range():
    ae = Autoencoder(latent_dim=5, hidden=16)
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    z = ae.encode(x)
    assert z.shape == (3, 5)
    x_hat = ae.decode(100 * z)
    assert x_hat.shape == x.shape and x_hat.abs().max() <= 1
    assert torch.equal(ae(x), ae.decode(ae.encode(x)))
    with torch.no_grad():
        assert reconstruction_mse(ae, x) == pytest.approx(
            float((ae(x) - x).pow(2).mean())
        )


def test_latent_scale_gives_unit_variance():
    z = 3.7 * torch.randn(500, 4, generator=torch.Generator().manual_seed(0)) + 2.0
    c = latent_scale(z)
    assert float((c * z).double().std()) == pytest.approx(1.0, abs=1e-6)
    assert c == pytest.approx(1 / float(z.double().std()), rel=1e-12)


def test_bad_inputs_are_named():
    ae = Autoencoder(latent_dim=4, hidden=8)
    with pytest.raises(ValueError, match=r"x must have shape \(B, 1, 8, 8\)"):
        ae.encode(torch.zeros(2, 64))
    with pytest.raises(ValueError, match=r"z must have shape \(B, 4\)"):
        ae.decode(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="latent_dim"):
        Autoencoder(latent_dim=0)
    with pytest.raises(ValueError, match="positive, finite standard deviation"):
        latent_scale(torch.ones(10))
    with pytest.raises(ValueError, match="steps"):
        train_autoencoder(ae, torch.zeros(4, 1, 8, 8), steps=0)


def test_training_reconstructs_digits_far_better_than_their_mean():
    x, _ = ddpm_lite.digits()
    x = x[:256]
    torch.manual_seed(0)
    ae = Autoencoder(latent_dim=8, hidden=64)
    before = reconstruction_mse(ae, x)
    losses = train_autoencoder(ae, x, steps=300, batch_size=64, lr=3e-3)
    baseline = float((x - x.mean(0)).pow(2).mean())  # predict the mean digit
    assert len(losses) == 300
    assert reconstruction_mse(ae, x) < 0.5 * baseline < before
