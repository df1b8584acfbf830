"""The U-Net of Ho et al. 2020 (Appendix B), written to be read next to the paper.

The reference for every detail is the released TensorFlow code,
`diffusion_tf/models/unet.py` (github.com/hojonathanho/diffusion). The network knows no
schedule: it maps a noisy image x_t and the paper's step t (1..T) to eps_theta(x_t, t).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import (
    ArgTypeError,
    check_floating,
    check_int,
    check_positive_int,
    check_real,
)


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding of a step index, the Transformer's positional encoding.

        emb[:, i]         = sin(t * 10000^(-i / (dim/2 - 1)))     i = 0 .. dim/2 - 1
        emb[:, dim/2 + i] = cos(t * 10000^(-i / (dim/2 - 1)))

    Ho et al. 2020, Appendix B; `get_timestep_embedding` in the released code. It equals
    diffusers' `get_timestep_embedding(t, dim, flip_sin_to_cos=False, downscale_freq_shift=1)`.
    t: (B,) integer or float, evaluated as given (the networks pass t - 1, see `UNet`).
    Returns float32 (B, dim).
    """
    if check_int(dim, "dim", 4, bounds="(an even number) >= 4") % 2 != 0:
        raise ValueError(f"dim must be an even number >= 4, got {dim}")
    half = dim // 2
    freqs = torch.exp(
        -math.log(10000.0)
        * torch.arange(half, dtype=torch.float32, device=t.device)
        / (half - 1)
    )
    args = t.float()[:, None] * freqs[None, :]  # (B, half)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)  # (B, dim)


class AttnBlock(nn.Module):
    """Single-head self-attention over all pixels, with a residual connection.

        h = GroupNorm(x);  q, k, v = h W_q, h W_k, h W_v
        out = x + softmax(q k^T / sqrt(C)) v W_o

    `attn_block` in the released code; q, k, v come from one fused projection.
    """

    def __init__(self, channels: int, *, groups: int, eps: float):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=eps)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)  # (B, HW, C)
        q, k, v = (
            self.qkv(h).unsqueeze(1).chunk(3, dim=3)
        )  # 3 x (B, 1, HW, C): one head
        h = F.scaled_dot_product_attention(q, k, v).squeeze(1)  # (B, HW, C)
        h = self.proj(h).transpose(1, 2).reshape(B, C, H, W)  # (B, C, H, W)
        return x + h


class Dropout(nn.Module):
    """Inverted dropout, as `nn.Dropout`: in training, zero each entry with probability p and scale
    the rest by 1 / (1 - p). On CPU the mask compares uniform draws with p, which is faster than
    torch's Bernoulli sampler (benchmarks/unet_speed.py --ablation); on other devices it is
    torch's fused kernel."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        keep = torch.rand_like(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))  # 0 or 1/(1-p)
        return x * keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ResBlock(nn.Module):
    """Residual block with the time embedding added per channel; optionally followed by attention.

        h = conv3x3(swish(GroupNorm(x))) + Linear(swish(emb))[:, :, None, None]
        h = conv3x3(dropout(swish(GroupNorm(h))))
        out = shortcut(x) + h                   (shortcut: 1x1 conv when channels change)

    `resnet_block` in the released code. With attn=True, an `AttnBlock` follows, as the
    paper does at 16x16 ("if h.shape[1] in attn_resolutions").
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        *,
        emb_dim: int,
        dropout: float,
        groups: int,
        eps: float,
        attn: bool = False,
    ):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch, eps=eps)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.temb_proj = nn.Linear(emb_dim, out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch, eps=eps)
        self.dropout = Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        self.attn = AttnBlock(out_ch, groups=groups, eps=eps) if attn else None

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        # In-place adds into fresh conv outputs (a conv's backward does not need its output):
        # fewer activation-sized allocations, the same values.
        h = self.conv1(F.silu(self.norm1(x)))  # (B, out, H, W)
        h += self.temb_proj(F.silu(emb))[:, :, None, None]  # + (B, out, 1, 1)
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))  # (B, out, H, W)
        h += self.skip(x)
        return h if self.attn is None else self.attn(h)


class Downsample(nn.Module):
    """Stride-2 3x3 conv. TF's 'SAME' padding pads only bottom/right on even sizes: (H, W) -> (H/2, W/2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


# Nearest x2 then a 3x3 conv, as one transposed conv. On the upsampled grid the 3x3 window of
# output row 2i covers input rows i-1 | i, i (taps 0 | 1, 2) and that of row 2i+1 rows i, i | i+1
# (taps 0, 1 | 2). A stride-2 transposed conv with padding 1 feeds output row 2i + p from input
# row i - 1 through tap r = 3 (p = 0), row i through r = 1 (p = 0) or r = 2 (p = 1), and row i + 1
# through r = 0 (p = 1). _TAPS[r, k] = 1 where 3x3 tap k lands on tap r.
_TAPS = torch.tensor(
    [[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
)


class Upsample(nn.Module):
    """Nearest-neighbour x2, then a 3x3 conv: (H, W) -> (2H, 2W).

    Computed without the 4x larger upsampled map: a 3x3 window on the upsampled grid covers only
    2x2 distinct input pixels, so the pair is a stride-2 transposed conv whose 4x4 kernel holds sums
    of the 3x3 taps, 4 multiply-adds per output pixel and channel pair instead of 9. Same parameters
    (`conv`), same function up to float rounding."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        taps = _TAPS.to(self.conv.weight)
        k = torch.einsum(
            "rk,sl,oikl->iors", taps, taps, self.conv.weight
        )  # (I, O, 4, 4)
        return F.conv_transpose2d(
            x, k, self.conv.bias, stride=2, padding=1
        )  # (B, O, 2H, 2W)


def _check_ints(values: object, name: str, low: int) -> tuple[int, ...]:
    """A tuple or list of integers >= low, as a tuple."""
    if not isinstance(values, (tuple, list)):
        raise ArgTypeError(
            f"{name} must be a tuple of integers >= {low}, got {values!r}"
        )
    return tuple(check_int(v, f"{name}[{i}]", low) for i, v in enumerate(values))


def _check_config(c: UNetConfig) -> None:
    for name in ("in_channels", "out_channels", "ch", "resolution", "groups"):
        check_positive_int(getattr(c, name), name)
    check_int(c.num_res_blocks, "num_res_blocks", 0)
    levels = len(_check_ints(c.ch_mult, "ch_mult", 1))
    _check_ints(c.attn_resolutions, "attn_resolutions", 1)
    if levels < 1:
        raise ValueError(
            f"ch_mult must be a non-empty tuple of positive ints, got {c.ch_mult}"
        )
    if c.resolution % 2 ** (levels - 1) != 0:
        raise ValueError(
            "resolution must be divisible by 2^(len(ch_mult) - 1) = "
            f"{2 ** (levels - 1)}, got {c.resolution}"
        )
    for m in c.ch_mult:
        if (c.ch * m) % c.groups != 0:
            raise ValueError(
                f"groups={c.groups} must divide every level's channels ch * ch_mult "
                f"= {c.ch * m}"
            )
    if c.ch % 2 != 0 or c.ch < 4:
        raise ValueError(
            f"ch must be an even number >= 4 (sinusoidal embedding width), got {c.ch}"
        )
    if c.num_classes is not None:
        check_positive_int(c.num_classes, "num_classes")
    if isinstance(c.dropout, bool) or not isinstance(c.dropout, numbers.Real):
        raise ArgTypeError(f"dropout must be a number in [0, 1), got {c.dropout!r}")
    if not 0.0 <= c.dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {c.dropout}")
    check_real(c.eps, "eps", 0.0, open_low=True)


@dataclass(frozen=True)
class UNetConfig:
    """Shape of a `UNet`. Channels at level i are ch * ch_mult[i]; attention where the
    feature map is r x r with r in attn_resolutions (r = resolution / 2^level)."""

    in_channels: int = 3
    out_channels: int = 3
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 2, 2, 2)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (16,)
    dropout: float = 0.1
    resolution: int = 32
    num_classes: int | None = (
        None  # class-conditional if set; label num_classes = "no label"
    )
    groups: int = 32  # GroupNorm groups
    eps: float = 1e-6  # GroupNorm epsilon (TF's group_norm default)

    def __post_init__(self) -> None:
        _check_config(self)  # each field's range, and sizes that fit together
        for name in ("ch_mult", "attn_resolutions"):  # a list (from JSON) as a tuple
            object.__setattr__(self, name, tuple(getattr(self, name)))


PRESETS: dict[str, UNetConfig] = {
    # Ho et al. 2020, Appendix B: 35.7M parameters.
    "cifar10": UNetConfig(),
    # Appendix B, 256x256 models (CelebA-HQ, LSUN): 114M parameters.
    "celebahq256": UNetConfig(ch_mult=(1, 1, 2, 2, 4, 4), dropout=0.0, resolution=256),
    # Small CPU models. digits8: sklearn's 8x8 digits, levels 8 -> 4, attention at 4x4.
    "digits8": UNetConfig(
        in_channels=1,
        out_channels=1,
        ch=32,
        ch_mult=(1, 2),
        num_res_blocks=1,
        attn_resolutions=(4,),
        dropout=0.0,
        resolution=8,
        groups=8,
    ),
    # mnist28: three levels 28 -> 14 -> 7 (no padding: a third downsample of 7 would not
    # invert under x2 upsampling), attention at 7x7.
    "mnist28": UNetConfig(
        in_channels=1,
        out_channels=1,
        ch=32,
        ch_mult=(1, 2, 2),
        num_res_blocks=2,
        attn_resolutions=(7,),
        dropout=0.1,
        resolution=28,
        groups=8,
    ),
}


class UNet(nn.Module):
    """eps_theta(x_t, t): the U-Net of Ho et al. 2020, Appendix B (PixelCNN++ backbone).

    Call `unet(x_t, t)` or `unet(x_t, t, y)`:
      x_t: (B, in_channels, H, W), H and W divisible by 2^(len(ch_mult) - 1).
      t:   (B,) the paper's step, 1 <= t <= T (int64; floats are accepted for fractional steps).
      y:   (B,) int64 class labels in 0..num_classes, only for a class-conditional model;
           the label `num_classes` (or y=None) means "no label", for classifier-free guidance.
    Returns (B, out_channels, H, W).

    Step convention: the network embeds t - 1, the 0-based index that the released TF code
    (and hence diffusers' google/ddpm-* checkpoints, whose timestep is our t - 1) fed to its
    embedding. So the project's t = 1..T everywhere, and converted weights need no shift.
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        if not isinstance(config, UNetConfig):
            raise ArgTypeError(f"config must be a UNetConfig, got {config!r:.60}")
        self.config = c = config
        emb_dim = 4 * c.ch
        block = {
            "emb_dim": emb_dim,
            "dropout": c.dropout,
            "groups": c.groups,
            "eps": c.eps,
        }

        self.time_embed = nn.Sequential(
            nn.Linear(c.ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        self.label_embed = (
            nn.Embedding(c.num_classes + 1, emb_dim)
            if c.num_classes is not None
            else None
        )
        self.conv_in = nn.Conv2d(c.in_channels, c.ch, 3, padding=1)

        # Down path: every module's output is stored as a skip connection (hs in the TF code).
        self.down, skip_chs = nn.ModuleList(), [c.ch]
        ch_in, res = c.ch, c.resolution
        for level, mult in enumerate(c.ch_mult):
            for _ in range(c.num_res_blocks):
                self.down.append(
                    ResBlock(
                        ch_in, c.ch * mult, attn=res in c.attn_resolutions, **block
                    )
                )
                ch_in = c.ch * mult
                skip_chs.append(ch_in)
            if level != len(c.ch_mult) - 1:
                self.down.append(Downsample(ch_in))
                skip_chs.append(ch_in)
                res //= 2

        self.mid = nn.ModuleList(
            [
                ResBlock(ch_in, ch_in, attn=True, **block),
                ResBlock(ch_in, ch_in, **block),
            ]
        )

        # Up path: num_res_blocks + 1 blocks per level, each eating one skip connection.
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(c.ch_mult))):
            for _ in range(c.num_res_blocks + 1):
                self.up.append(
                    ResBlock(
                        ch_in + skip_chs.pop(),
                        c.ch * mult,
                        attn=res in c.attn_resolutions,
                        **block,
                    )
                )
                ch_in = c.ch * mult
            if level != 0:
                self.up.append(Upsample(ch_in))
                res *= 2

        self.norm_out = nn.GroupNorm(c.groups, ch_in, eps=c.eps)
        self.conv_out = nn.Conv2d(ch_in, c.out_channels, 3, padding=1)
        self._init_weights()

    def _init_weights(self) -> None:
        """As the released code: Glorot-uniform weights (variance_scaling, fan_avg, uniform), zero
        biases, and zero for the last conv of each residual branch (ResBlock.conv2, AttnBlock.proj)
        and for conv_out (the TF code's init_scale=0., there a 1e-10 scale; here exactly 0)."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            zero = (
                m.conv2
                if isinstance(m, ResBlock)
                else m.proj
                if isinstance(m, AttnBlock)
                else None
            )
            if zero is not None:
                nn.init.zeros_(zero.weight)
                nn.init.zeros_(zero.bias)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> UNet:
        """Build a preset ("cifar10", "celebahq256", "digits8", "mnist28"), fields overridable."""
        if name not in PRESETS:
            raise ValueError(f"name must be one of {sorted(PRESETS)}, got {name!r}")
        return cls(replace(PRESETS[name], **overrides))

    def forward(self, x_t: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        if not _is_compiling():
            self._check_inputs(x_t, t, y)
        emb = self.time_embed(
            timestep_embedding(t - 1, self.config.ch)
        )  # (B, 4ch), embeds t - 1
        if self.label_embed is not None:
            if y is None:
                y = torch.full_like(
                    t, self.config.num_classes, dtype=torch.long
                )  # "no label"
            emb = emb + self.label_embed(y)  # (B, 4ch)

        hs = [self.conv_in(x_t)]  # (B, ch, H, W)
        for layer in self.down:
            hs.append(layer(hs[-1], emb))
        h = hs[-1]
        for layer in self.mid:
            h = layer(h, emb)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = torch.cat([h, hs.pop()], dim=1)  # (B, C + C_skip, H, W)
            h = layer(h, emb)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, out_channels, H, W)

    def _check_inputs(self, x_t: Tensor, t: Tensor, y: Tensor | None) -> None:
        c, div = self.config, 2 ** (len(self.config.ch_mult) - 1)
        check_floating(x_t, "x_t")
        if x_t.ndim != 4 or x_t.shape[1] != c.in_channels:
            raise ValueError(
                f"x_t must have shape (B, {c.in_channels}, H, W), got {tuple(x_t.shape)}"
            )
        if x_t.shape[2] % div or x_t.shape[3] % div:
            raise ValueError(
                f"x_t: height and width must be divisible by {div}, got {tuple(x_t.shape[2:])}"
            )
        _check_t_and_y(t, y, x_t.shape[0], c.num_classes)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _check_index(
    name: str, v: Tensor, batch: int, *, low: int, high: int | None, integer: bool
) -> None:
    """Raise naming `name` unless v is a finite (batch,) tensor, low <= v (<= high)."""
    allowed = f"{low} <= {name}" + (f" <= {high}" if high is not None else "")
    if not isinstance(v, Tensor) or v.shape != (batch,):
        shape = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
        raise ValueError(
            f"{name} must be a tensor of shape ({batch},) with {allowed}, got {shape}"
        )
    if v.is_floating_point() and integer or v.dtype == torch.bool or v.is_complex():
        raise ArgTypeError(f"{name} must be an integer tensor, got {v.dtype}")
    bad = ~(v >= low)  # also NaN
    if high is not None:
        bad |= v > high
    if v.is_floating_point():
        bad |= v.isinf()
    if bool(bad.any()):  # one host read for all three
        raise ValueError(
            f"{name} out of range: need {allowed} and {name} finite, got min "
            f"{v.min().item()}, max {v.max().item()}"
        )


def _check_t_and_y(
    t: Tensor, y: Tensor | None, batch: int, num_classes: int | None
) -> None:
    """The checks every denoiser makes: t (batch,) >= 1; y None, or (batch,) labels in 0..num_classes."""
    _check_index("t", t, batch, low=1, high=None, integer=False)
    if y is not None:
        if num_classes is None:
            raise ValueError(
                "y must be None: this model is unconditional (num_classes is None)"
            )
        _check_index("y", y, batch, low=0, high=num_classes, integer=True)


def _is_compiling() -> bool:
    compiler = getattr(torch, "compiler", None)
    return bool(
        compiler is not None
        and hasattr(compiler, "is_compiling")
        and compiler.is_compiling()
    )
