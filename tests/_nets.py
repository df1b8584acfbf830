"""Shared by the network tests and benchmarks/unet_speed.py."""

import torch

DDPM_CIFAR10_32 = dict(  # config.json of google/ddpm-cifar10-32 (model fields)
    sample_size=32,
    in_channels=3,
    out_channels=3,
    block_out_channels=[128, 256, 256, 256],
    down_block_types=["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
    layers_per_block=2,
    norm_num_groups=32,
    norm_eps=1e-6,
    attention_head_dim=None,
    downsample_padding=0,
    freq_shift=1,
    flip_sin_to_cos=False,
    time_embedding_type="positional",
    center_input_sample=False,
    act_fn="silu",
    mid_block_scale_factor=1,
)


@torch.no_grad()
def perturb(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Replace every parameter (zero-initialised ones included) with O(1)-scale noise, so that
    comparisons of two networks exercise every weight."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if p.ndim > 1:
            p.copy_(torch.randn(p.shape, generator=g) / p[0].numel() ** 0.5)
        else:
            base = 1.0 if "norm" in name and name.endswith("weight") else 0.0
            p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
    return model
