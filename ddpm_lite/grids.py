"""Samples as PNG files without matplotlib: image grids, and 2-D points as a density picture."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def image_grid(x: Tensor, *, nrow: int | None = None, pad: int = 1) -> np.ndarray:
    """Images (B, C, H, W) in [-1, 1] tiled into one uint8 array (rows, cols[, 3]), -1 black, +1 white."""
    x = x.detach().float().cpu().clamp(-1, 1)
    B, C, H, W = x.shape
    nrow = nrow or math.ceil(math.sqrt(B))
    ncol = math.ceil(B / nrow)
    grid = torch.ones(C, ncol * (H + pad) + pad, nrow * (W + pad) + pad)
    for i in range(B):
        r, c = divmod(i, nrow)
        grid[
            :,
            pad + r * (H + pad) : pad + r * (H + pad) + H,
            pad + c * (W + pad) : pad + c * (W + pad) + W,
        ] = x[i]
    img = (
        ((grid + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    )  # (rows, cols, C)
    return img[:, :, 0] if C == 1 else img


def point_image(x: Tensor, *, lim: float = 1.5, size: int = 256) -> np.ndarray:
    """Points (N, 2) as a uint8 density image over [-lim, lim]^2 (dark = many points), y up."""
    x = x.detach().float().cpu().numpy()
    hist, _, _ = np.histogram2d(
        x[:, 1], x[:, 0], bins=size, range=[[-lim, lim], [-lim, lim]]
    )
    dens = np.log1p(hist[::-1])
    dens = dens / dens.max() if dens.max() > 0 else dens
    return (255 * (1 - dens)).astype(np.uint8)


def save_png(x: Tensor, path: str | os.PathLike, *, nrow: int | None = None) -> Path:
    """Write images (B, C, H, W) in [-1, 1] as a grid, or points (N, 2) as a density image; return the path."""
    from PIL import Image

    if x.ndim == 4 and x.shape[1] in (1, 3):
        img = image_grid(x, nrow=nrow)
        scale = max(1, 256 // max(img.shape[:2]))  # 8x8 digits: make them visible
        img = img.repeat(scale, 0).repeat(scale, 1)
    elif x.ndim == 2 and x.shape[1] == 2:
        img = point_image(x)
    else:
        raise ValueError(
            f"x must have shape (B, 1 or 3, H, W) or (N, 2), got {tuple(x.shape)}"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path
