"""A tiny Diffusion Transformer (DiT) with adaLN-Zero blocks, Peebles & Xie 2023.

The image is cut into p x p patches, each patch becomes a token, a stack of transformer blocks
conditioned on the step (and optionally a class) by adaptive layer norm processes the tokens,
and a final layer turns every token back into a patch of eps. Same call as `UNet`:
`dit(x_t, t)` or `dit(x_t, t, y)`, so the package's `train` and samplers take it unchanged.
Lesson 13.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import ArgTypeError, check_floating, check_positive_int, check_real
from .unet import _check_t_and_y, _is_compiling, timestep_embedding


def patchify(x: Tensor, p: int) -> Tensor:
    """(B, C, H, W) -> (B, N, p*p*C) tokens, N = (H/p)(W/p) in row-major order of patches.

    Token n = (i, j) (patch row i, column j) holds x[:, :, i*p:(i+1)*p, j*p:(j+1)*p] flattened in
    the order (row in patch, column in patch, channel), as DiT's `unpatchify` expects (Sec. 3.2).
    """
    if x.ndim != 4 or p < 1 or x.shape[2] % p or x.shape[3] % p:
        raise ValueError(
            f"x must be (B, C, H, W) with H and W divisible by p={p}, got {tuple(x.shape)}"
        )
    B, C, H, W = x.shape
    x = x.reshape(B, C, H // p, p, W // p, p)  # (B, C, h, p, w, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(B, (H // p) * (W // p), p * p * C)


def unpatchify(
    tokens: Tensor, p: int, channels: int, height: int, width: int
) -> Tensor:
    """Inverse of `patchify`: (B, N, p*p*C) -> (B, C, H, W)."""
    h, w = height // p, width // p
    if (
        tokens.ndim != 3
        or tokens.shape[1:] != (h * w, p * p * channels)
        or height % p
        or width % p
    ):
        raise ValueError(
            f"tokens must have shape (B, {h * w}, {p * p * channels}) for p={p}, "
            f"C={channels}, H={height}, W={width}; got {tuple(tokens.shape)}"
        )
    x = tokens.reshape(-1, h, w, p, p, channels).permute(
        0, 5, 1, 3, 2, 4
    )  # (B, C, h, p, w, p)
    return x.reshape(-1, channels, height, width)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """Adaptive layer norm's affine step: x * (1 + scale) + shift, one (shift, scale) per sample."""
    return x * (1 + scale[:, None]) + shift[:, None]  # (B, N, D)


class Attention(nn.Module):
    """Multi-head self-attention over the tokens: softmax(q k^T / sqrt(d_head)) v, heads concatenated."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        B, N, D = x.shape
        q, k, v = (
            self.qkv(x)
            .reshape(B, N, 3, self.heads, D // self.heads)
            .permute(2, 0, 3, 1, 4)
        )  # (B, h, N, d)
        h = F.scaled_dot_product_attention(q, k, v)  # (B, h, N, d)
        return self.proj(h.transpose(1, 2).reshape(B, N, D))


class DiTBlock(nn.Module):
    """A transformer block whose layer norms are modulated by the conditioning c (adaLN-Zero).

        (shift1, scale1, gate1, shift2, scale2, gate2) = W_ada swish(c) + b_ada
        x <- x + gate1 * Attention(LN(x) * (1 + scale1) + shift1)
        x <- x + gate2 * MLP(LN(x) * (1 + scale2) + shift2)

    LN has no learnt affine part; W_ada and b_ada start at zero, so every gate is 0 and the
    block is exactly the identity at initialisation (Peebles & Xie 2023, Sec. 3.2, "adaLN-Zero").
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim)
        )
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.ada[1].weight)  # the "Zero"
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c).chunk(
            6, dim=1
        )  # 6 x (B, D)
        x = x + gate1[:, None] * self.attn(modulate(self.norm1(x), shift1, scale1))
        return x + gate2[:, None] * self.mlp(modulate(self.norm2(x), shift2, scale2))


@dataclass(frozen=True)
class DiTConfig:
    """Sizes of a `DiT`. Defaults: a tiny model for the 8x8 digits (2x2 patches, 16 tokens)."""

    in_channels: int = 1
    image_size: int = 8
    patch: int = 2
    dim: int = 64  # token width (DiT-XL: 1152)
    depth: int = 4  # number of DiT blocks (DiT-XL: 28)
    heads: int = 4  # attention heads (DiT-XL: 16)
    mlp_ratio: float = 4.0
    num_classes: int | None = None

    def __post_init__(self) -> None:
        for name in ("in_channels", "image_size", "patch", "dim", "depth", "heads"):
            check_positive_int(getattr(self, name), name)
        if self.image_size % self.patch:
            raise ValueError(
                f"patch must divide image_size={self.image_size}, got {self.patch}"
            )
        if self.dim % self.heads or self.dim % 4 or self.dim < 8:
            raise ValueError(
                f"dim must be a multiple of 4 (>= 8) and of heads={self.heads}, got "
                f"{self.dim}"
            )
        check_real(self.mlp_ratio, "mlp_ratio", 0.0, open_low=True)
        if int(self.dim * self.mlp_ratio) < 1:
            raise ValueError(
                f"mlp_ratio must give an MLP of width int(dim * mlp_ratio) >= 1, got "
                f"{self.mlp_ratio}"
            )
        if self.num_classes is not None:
            check_positive_int(self.num_classes, "num_classes")


class DiT(nn.Module):
    """eps_theta(x_t, t[, y]) as a Diffusion Transformer (Peebles & Xie 2023, Fig. 3).

        tokens = W_patch patchify(x_t) + pos        pos: fixed 2-D sinusoids (row | column)
        c = MLP(sinusoid(t - 1)) [+ E[y]]
        tokens <- DiTBlock(tokens, c)  (depth times)
        eps = unpatchify(W_out (LN(tokens) * (1 + scale) + shift)),  (shift, scale) = W swish(c)

    The final layer's W, W_out start at zero, so the untrained network outputs exactly 0.
    x_t: (B, C, H, W); t: (B,) the paper's step 1..T (floats allowed); y: (B,) labels in
    0..num_classes, num_classes (or None) meaning "no label". It predicts eps only (DiT-XL
    also predicts a variance). Lesson 13.
    """

    def __init__(self, config: DiTConfig = DiTConfig()):
        super().__init__()
        if not isinstance(config, DiTConfig):
            raise ArgTypeError(f"config must be a DiTConfig, got {config!r:.60}")
        c = self.config = config  # DiTConfig checked its fields
        side = c.image_size // c.patch
        self.patch_embed = nn.Linear(c.patch * c.patch * c.in_channels, c.dim)
        rows, cols = (
            torch.arange(side).repeat_interleave(side),
            torch.arange(side).repeat(side),
        )
        pos = torch.cat(
            [
                timestep_embedding(rows, c.dim // 2),
                timestep_embedding(cols, c.dim // 2),
            ],
            1,
        )
        self.register_buffer("pos", pos[None], persistent=False)  # (1, N, D)
        self.time_embed = nn.Sequential(
            nn.Linear(c.dim, c.dim), nn.SiLU(), nn.Linear(c.dim, c.dim)
        )
        self.label_embed = (
            nn.Embedding(c.num_classes + 1, c.dim)
            if c.num_classes is not None
            else None
        )
        self.blocks = nn.ModuleList(
            DiTBlock(c.dim, c.heads, c.mlp_ratio) for _ in range(c.depth)
        )
        self.norm_out = nn.LayerNorm(c.dim, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(c.dim, 2 * c.dim))
        self.out = nn.Linear(c.dim, c.patch * c.patch * c.in_channels)
        for layer in (self.ada_out[1], self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x_t: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        if not _is_compiling():
            self._check_inputs(x_t, t, y)
        c = self.config
        h = self.patch_embed(patchify(x_t, c.patch)) + self.pos  # (B, N, D)
        cond = self.time_embed(timestep_embedding(t - 1, c.dim))  # (B, D), embeds t - 1
        if self.label_embed is not None:
            if y is None:
                y = torch.full_like(t, c.num_classes, dtype=torch.long)  # "no label"
            cond = cond + self.label_embed(y)
        for block in self.blocks:
            h = block(h, cond)
        shift, scale = self.ada_out(cond).chunk(2, dim=1)
        h = self.out(modulate(self.norm_out(h), shift, scale))  # (B, N, p*p*C)
        return unpatchify(h, c.patch, c.in_channels, c.image_size, c.image_size)

    def _check_inputs(self, x_t: Tensor, t: Tensor, y: Tensor | None) -> None:
        c = self.config
        check_floating(x_t, "x_t")
        if x_t.ndim != 4 or x_t.shape[1:] != (
            c.in_channels,
            c.image_size,
            c.image_size,
        ):
            raise ValueError(
                f"x_t must have shape (B, {c.in_channels}, {c.image_size}, {c.image_size}), "
                f"got {tuple(x_t.shape)}"
            )
        _check_t_and_y(t, y, x_t.shape[0], c.num_classes)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
