"""A small MLP denoiser eps_theta(x_t, t) for low-dimensional data (2-D toy sets)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_floating, check_int, check_positive_int
from .unet import _check_t_and_y, _is_compiling, timestep_embedding


class MLPDenoiser(nn.Module):
    """eps_theta(x_t, t) for points in R^dim: a residual MLP with the time embedding added
    before every layer.

        emb = MLP(sinusoid(t - 1)) [+ E[y]]
        h = W_in x_t;   h <- h + W_l swish(h + emb)  (l = 1..depth);   eps = W_out swish(h)

    Call `net(x_t, t)` or `net(x_t, t, y)`: x_t (B, dim), t (B,) the paper's step 1..T,
    y (B,) labels in 0..num_classes with num_classes (or y=None) meaning "no label".
    Same step convention and embedding function as `UNet` (it embeds t - 1).
    """

    def __init__(
        self,
        dim: int = 2,
        hidden: int = 128,
        depth: int = 3,
        time_dim: int = 64,
        num_classes: int | None = None,
    ):
        super().__init__()
        for value, name in ((dim, "dim"), (hidden, "hidden"), (depth, "depth")):
            check_positive_int(value, name)  # depth 0 would never see t
        if num_classes is not None:
            check_positive_int(num_classes, "num_classes")
        if check_int(time_dim, "time_dim", 4, bounds="(an even number) >= 4") % 2:
            raise ValueError(f"time_dim must be an even number >= 4, got {time_dim}")
        self.dim, self.time_dim, self.num_classes = dim, time_dim, num_classes
        self.time_embed = nn.Sequential(
            nn.Linear(time_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )
        self.label_embed = (
            nn.Embedding(num_classes + 1, hidden) if num_classes is not None else None
        )
        self.inp = nn.Linear(dim, hidden)
        self.layers = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth))
        self.out = nn.Linear(hidden, dim)

    def forward(self, x_t: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        if not _is_compiling():
            self._check_inputs(x_t, t, y)
        emb = self.time_embed(timestep_embedding(t - 1, self.time_dim))  # (B, hidden)
        if self.label_embed is not None:
            if y is None:
                y = torch.full_like(t, self.num_classes, dtype=torch.long)  # "no label"
            emb = emb + self.label_embed(y)
        h = self.inp(x_t)  # (B, hidden)
        for layer in self.layers:
            h = h + layer(F.silu(h + emb))
        return self.out(F.silu(h))  # (B, dim)

    def _check_inputs(self, x_t: Tensor, t: Tensor, y: Tensor | None) -> None:
        check_floating(x_t, "x_t")
        if x_t.ndim != 2 or x_t.shape[1] != self.dim:
            raise ValueError(
                f"x_t must have shape (B, {self.dim}), got {tuple(x_t.shape)}"
            )
        _check_t_and_y(t, y, x_t.shape[0], self.num_classes)
