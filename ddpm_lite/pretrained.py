"""Released DDPM weights: diffusers' `UNet2DModel` (google/ddpm-*) -> `ddpm_lite.UNet`.

diffusers' timestep is our t - 1; `UNet` embeds t - 1 itself, so after conversion
`unet(x_t, t) == diffusers_unet(x_t, t - 1).sample`. This module is the only place that
knows diffusers' names.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .unet import UNet, UNetConfig

# diffusers' UNet2DModel defaults for the fields we read (used when config.json omits them).
_DIFFUSERS_DEFAULTS: dict[str, Any] = dict(
    in_channels=3,
    out_channels=3,
    center_input_sample=False,
    time_embedding_type="positional",
    time_embedding_dim=None,
    freq_shift=0,
    flip_sin_to_cos=True,
    mid_block_type="UNetMidBlock2D",
    layers_per_block=2,
    mid_block_scale_factor=1,
    downsample_padding=1,
    downsample_type="conv",
    upsample_type="conv",
    dropout=0.0,
    act_fn="silu",
    attention_head_dim=8,
    norm_num_groups=32,
    attn_norm_num_groups=None,
    norm_eps=1e-5,
    resnet_time_scale_shift="default",
    add_attention=True,
    class_embed_type=None,
    num_class_embeds=None,
)

# Fields that must take exactly this value for our UNet to compute the same function.
_REQUIRED: dict[str, Any] = dict(
    center_input_sample=False,
    time_embedding_type="positional",
    time_embedding_dim=None,
    freq_shift=1,
    flip_sin_to_cos=False,
    mid_block_type="UNetMidBlock2D",
    mid_block_scale_factor=1,
    downsample_padding=0,
    downsample_type="conv",
    upsample_type="conv",
    act_fn="silu",
    attn_norm_num_groups=None,
    resnet_time_scale_shift="default",
    add_attention=True,
    class_embed_type=None,
)


def config_from_diffusers(cfg: Mapping[str, Any]) -> UNetConfig:
    """The `UNetConfig` of a diffusers `UNet2DModel` config dict; ValueError naming the field
    that our U-Net cannot represent."""
    get = lambda k: cfg.get(k, _DIFFUSERS_DEFAULTS.get(k))  # noqa: E731
    for key, want in _REQUIRED.items():
        if get(key) != want:
            raise ValueError(f"{key}={get(key)!r} is not supported (need {want!r})")
    chans = list(cfg["block_out_channels"])
    ch = chans[0]
    if any(c % ch for c in chans):
        raise ValueError(
            f"block_out_channels={chans} must be multiples of the first entry"
        )
    down, up = list(cfg["down_block_types"]), list(cfg["up_block_types"])
    if len(down) != len(chans) or len(up) != len(chans):
        raise ValueError(
            "down_block_types, up_block_types and block_out_channels must have equal length"
        )
    for name, types, ok in (
        ("down_block_types", down, ("DownBlock2D", "AttnDownBlock2D")),
        ("up_block_types", up, ("UpBlock2D", "AttnUpBlock2D")),
    ):
        if any(b not in ok for b in types):
            raise ValueError(f"{name}={types} is not supported (allowed: {ok})")
    attn_levels = [i for i, b in enumerate(down) if b.startswith("Attn")]
    if attn_levels != [
        len(up) - 1 - i
        for i, b in reversed(list(enumerate(up)))
        if b.startswith("Attn")
    ]:
        raise ValueError(f"up_block_types={up} must mirror down_block_types={down}")
    size = cfg.get("sample_size")
    if isinstance(size, (list, tuple)):
        if len(set(size)) != 1:
            raise ValueError(f"sample_size={size} must be square")
        size = size[0]
    if not isinstance(size, int):
        raise ValueError(f"sample_size={size!r} must be an int")
    head_dim = get("attention_head_dim")
    heads_ok = (
        head_dim is None
        or all(chans[i] == head_dim for i in attn_levels)
        and chans[-1] == head_dim
    )
    if not heads_ok:
        raise ValueError(
            f"attention_head_dim={head_dim} means multi-head attention; only one head is supported"
        )
    return UNetConfig(
        in_channels=get("in_channels"),
        out_channels=get("out_channels"),
        ch=ch,
        ch_mult=tuple(c // ch for c in chans),
        num_res_blocks=get("layers_per_block"),
        attn_resolutions=tuple(size // 2**i for i in attn_levels),
        dropout=float(get("dropout")),
        resolution=size,
        num_classes=get("num_class_embeds"),
        groups=get("norm_num_groups"),
        eps=float(get("norm_eps")),
    )


def _key_map(c: UNetConfig) -> dict[str, str]:
    """Prefix map diffusers -> ours for every module, in the order both networks run them."""
    m = {
        "conv_in.": "conv_in.",
        "time_embedding.linear_1.": "time_embed.0.",
        "time_embedding.linear_2.": "time_embed.2.",
        "class_embedding.": "label_embed.",
        "conv_norm_out.": "norm_out.",
        "conv_out.": "conv_out.",
        "mid_block.resnets.0.": "mid.0.",
        "mid_block.attentions.0.": "mid.0.attn.",
        "mid_block.resnets.1.": "mid.1.",
    }
    k, levels = 0, len(c.ch_mult)
    for i in range(levels):
        for j in range(c.num_res_blocks):
            m[f"down_blocks.{i}.resnets.{j}."] = f"down.{k}."
            m[f"down_blocks.{i}.attentions.{j}."] = f"down.{k}.attn."
            k += 1
        if i != levels - 1:
            m[f"down_blocks.{i}.downsamplers.0."] = f"down.{k}."
            k += 1
    k = 0
    for i in range(levels):  # diffusers' up block i is our level levels-1-i
        for j in range(c.num_res_blocks + 1):
            m[f"up_blocks.{i}.resnets.{j}."] = f"up.{k}."
            m[f"up_blocks.{i}.attentions.{j}."] = f"up.{k}.attn."
            k += 1
        if i != levels - 1:
            m[f"up_blocks.{i}.upsamplers.0."] = f"up.{k}."
            k += 1
    return m


# Leaf names inside a ResNet / Attention block; query/key/value/proj_attn are the names in
# the 2022 google/ddpm-* files.
_LEAF = {
    "time_emb_proj": "temb_proj",
    "conv_shortcut": "skip",
    "group_norm": "norm",
    "to_out.0": "proj",
    "proj_attn": "proj",
}
_QKV = {"to_q": 0, "to_k": 1, "to_v": 2, "query": 0, "key": 1, "value": 2}


def convert_diffusers_unet(
    model_or_state_dict: Any, config: Mapping[str, Any] | None = None
) -> UNet:
    """A `UNet` computing the same function as a diffusers `UNet2DModel`:
    `unet(x_t, t) == model(x_t, t - 1).sample` (t = 1..T, see `UNet`).

    model_or_state_dict: a `UNet2DModel` (its config is read) or its state dict, then
    `config` (the config.json contents) is required. Raises ValueError for configs our U-Net
    cannot represent, naming the field.
    """
    if isinstance(model_or_state_dict, Mapping):
        state = dict(model_or_state_dict)
        if config is None:
            raise ValueError("config is required when converting a state dict")
    else:
        state = model_or_state_dict.state_dict()
        config = dict(model_or_state_dict.config) if config is None else config
    unet = UNet(config_from_diffusers(config))
    key_map = _key_map(unet.config)
    prefixes = sorted(key_map, key=len, reverse=True)  # longest match first
    ours: dict[str, Tensor] = {}
    qkv: dict[str, list] = {}
    for key, value in state.items():
        src = next((p for p in prefixes if key.startswith(p)), None)
        if src is None:
            raise ValueError(
                f"state dict key {key!r} has no counterpart in ddpm_lite.UNet"
            )
        dst, (name, _, kind) = (
            key_map[src],
            key[len(src) :].rpartition("."),
        )  # e.g. ("to_q", "weight")
        if name in _QKV:
            qkv.setdefault(f"{dst}qkv.{kind}", [None] * 3)[_QKV[name]] = value
            continue
        if dst.endswith("attn.") and kind == "weight" and value.ndim == 4:
            value = value.flatten(1)  # 1x1 conv -> linear
        ours[dst + (_LEAF.get(name, name) + "." if name else "") + kind] = value
    for key, parts in qkv.items():
        if any(p is None for p in parts):
            raise ValueError(f"incomplete q/k/v for {key!r}")
        ours[key] = torch.cat([p.flatten(1) if p.ndim > 1 else p for p in parts], dim=0)
    if unet.label_embed is not None:  # diffusers has no "no label" row
        table = ours["label_embed.weight"]
        ours["label_embed.weight"] = torch.cat(
            [table, table.new_zeros(1, table.shape[1])]
        )
    unet.load_state_dict(ours, strict=True)
    return unet


def load_pretrained(
    name_or_path: str | os.PathLike, *, revision: str | None = None
) -> UNet:
    """Released weights as a `UNet` in eval mode, e.g. `load_pretrained("google/ddpm-cifar10-32")`.

    A local folder in diffusers' layout (config.json + diffusion_pytorch_model.safetensors or
    .bin, at the top or under unet/) is read directly; anything else is a Hugging Face repo id,
    fetched with huggingface_hub (needs the network). .bin files are read with
    `torch.load(weights_only=True)`: no pickled code runs.
    """
    folder = Path(name_or_path)
    if not folder.is_dir():
        folder = _download(str(name_or_path), revision)
    if (folder / "unet" / "config.json").is_file():
        folder = folder / "unet"
    if not (folder / "config.json").is_file():
        raise ValueError(f"name_or_path: no config.json in {folder}")
    config = json.loads((folder / "config.json").read_text())
    st, pt = (
        folder / "diffusion_pytorch_model.safetensors",
        folder / "diffusion_pytorch_model.bin",
    )
    if st.is_file():
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(st))
        except SafetensorError as err:
            raise ValueError(
                f"name_or_path: {st} is not a safetensors file ({err})"
            ) from None
    elif pt.is_file():
        try:
            state = torch.load(pt, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
            first = (str(err).splitlines() or [type(err).__name__])[0]
            raise ValueError(
                f"name_or_path: refusing {pt}: not a plain weights file ({first})"
            ) from err
    else:
        raise ValueError(
            f"name_or_path: no diffusion_pytorch_model.safetensors or .bin in {folder}"
        )
    return convert_diffusers_unet(state, config).eval()


_OFFLINE = ("1", "true", "yes", "on")


def _download(repo_id: str, revision: str | None) -> Path:
    """Fetch config and weights (safetensors if there, else .bin) from the Hub.

    ValueError in one line if it cannot: HF_HUB_OFFLINE is set, there is no network, or
    the repository does not exist (then pass a local folder instead).
    """
    instead = (
        f"download it where there is a network (huggingface-cli download {repo_id} "
        "--local-dir FOLDER) and pass that folder"
    )
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _OFFLINE:
        raise ValueError(
            f"name_or_path: {repo_id!r} is not a local folder, and HF_HUB_OFFLINE is "
            f"set, so the Hugging Face Hub is not asked: {instead}"
        )
    try:
        return _snapshot(repo_id, revision)
    except Exception as err:  # noqa: BLE001 (hub, HTTP and OS errors alike)
        first = (str(err).splitlines() or [""])[0][:200]
        raise ValueError(
            f"name_or_path: could not fetch {repo_id!r} from the Hugging Face Hub "
            f"(no network, or no such repository: {type(err).__name__} {first}); "
            f"{instead}"
        ) from None


def _snapshot(repo_id: str, revision: str | None) -> Path:
    from huggingface_hub import (
        snapshot_download,
    )  # lazy: only needed online (e.g. on Colab)

    configs = ["config.json", "unet/config.json"]
    path = snapshot_download(
        repo_id,
        revision=revision,
        allow_patterns=configs + ["*diffusion_pytorch_model.safetensors"],
    )
    folder = Path(path)
    sub = folder / "unet" if (folder / "unet" / "config.json").is_file() else folder
    if not (sub / "diffusion_pytorch_model.safetensors").is_file():
        path = snapshot_download(
            repo_id,
            revision=revision,
            allow_patterns=configs + ["*diffusion_pytorch_model.bin"],
        )
        folder = Path(path)
    return folder
