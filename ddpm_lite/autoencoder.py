"""A small autoencoder for the 8x8 digits: the first stage of a latent diffusion model.

Latent diffusion (Rombach et al. 2022) trains an autoencoder once, then runs diffusion on its
latents z = E(x) and decodes samples with D. Two details matter for the second stage:

    reconstruction:  D(E(x)) ~ x, or no diffusion model can do better than the decoder allows;
    scaling:         z is multiplied by one constant c = 1 / std(z) so that the latents have
                     unit variance, the scale the noise schedule was designed for
                     (Rombach et al. 2022, App. G, its effect in App. D.1; Stable Diffusion's 0.18215).

Lesson 13.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ._checks import check_positive_int


class Autoencoder(nn.Module):
    """x (B, *shape) -> z (B, latent_dim) -> x_hat (B, *shape), both halves MLPs with swish.

        E: flatten -> Linear(n, h) -> swish -> Linear(h, h) -> swish -> Linear(h, latent_dim)
        D: Linear(latent_dim, h) -> swish -> Linear(h, h) -> swish -> Linear(h, n) -> tanh

    tanh keeps reconstructions in [-1, 1], the range of the data. A plain (deterministic)
    autoencoder; Stable Diffusion's is a convolutional VAE with a small KL penalty.
    """

    def __init__(
        self, shape: Sequence[int] = (1, 8, 8), latent_dim: int = 8, hidden: int = 256
    ):
        super().__init__()
        check_positive_int(latent_dim, "latent_dim")
        check_positive_int(hidden, "hidden")
        self.shape, self.latent_dim = tuple(shape), latent_dim
        n = math.prod(self.shape)
        self.encoder = nn.Sequential(
            nn.Flatten(),
            nn.Linear(n, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, n),
            nn.Tanh(),
        )

    def encode(self, x: Tensor) -> Tensor:
        """(B, *shape) -> (B, latent_dim)."""
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(
                f"x must have shape (B, {', '.join(map(str, self.shape))}), got {tuple(x.shape)}"
            )
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """(B, latent_dim) -> (B, *shape) in [-1, 1]."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}"
            )
        return self.decoder(z).reshape(-1, *self.shape)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


def reconstruction_mse(ae: Autoencoder, x: Tensor) -> float:
    """Mean squared error per pixel of D(E(x)) against x (no gradient)."""
    with torch.no_grad():
        return float((ae(x) - x).pow(2).mean())


def latent_scale(z: Tensor) -> float:
    """The factor c = 1 / std(z) (all entries pooled) that gives the latents unit variance.

    One scalar for the whole latent, as Stable Diffusion does (Rombach et al. 2022, App. G).
    """
    if z.numel() < 2:
        raise ValueError(f"z must have at least 2 entries, got {z.numel()}")
    std = float(z.detach().double().std())
    if not std > 0 or not math.isfinite(std):
        raise ValueError(
            f"z must have a positive, finite standard deviation, got {std}"
        )
    return 1.0 / std


def train_autoencoder(
    ae: Autoencoder,
    x: Tensor,
    *,
    steps: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> list[float]:
    """Fit ae to x by Adam on the mean squared reconstruction error; returns the losses.

    Batches come from a generator seeded with `seed`; the learning rate decays by cosine to 0.
    """
    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    g = torch.Generator().manual_seed(seed)
    ae.to(device).train()
    opt = torch.optim.Adam(ae.parameters(), lr=lr, foreach=True)  # as in train.train
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    losses = []
    for _ in range(steps):
        batch = x[torch.randint(len(x), (batch_size,), generator=g)].to(device)
        loss = (ae(batch) - batch).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    ae.eval()
    return losses
