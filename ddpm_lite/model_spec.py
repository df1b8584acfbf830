"""What it takes to rebuild a network from a checkpoint's JSON, and the bounds on it.

A spec is {"kind": "mlp", <MLPDenoiser arguments>} or {"kind": "unet" | "dit", "config":
{<UNetConfig | DiTConfig fields>}}. A sidecar comes from a file, so `check_spec` checks its
types and sizes, and counts the parameters on the meta device, before anything is built.
"""

from __future__ import annotations

import math
from dataclasses import asdict, fields

import torch
from torch import nn

from .dit import DiT, DiTConfig
from .mlp import MLPDenoiser
from .unet import UNet, UNetConfig


def model_spec(model: nn.Module) -> dict:
    """What is needed to rebuild `model` (JSON-able): a `UNet`'s or `DiT`'s config or an `MLPDenoiser`'s sizes."""
    if isinstance(model, UNet):
        return {"kind": "unet", "config": asdict(model.config)}
    if isinstance(model, DiT):
        return {"kind": "dit", "config": asdict(model.config)}
    if isinstance(model, MLPDenoiser):
        return {
            "kind": "mlp",
            "dim": model.dim,
            "hidden": model.inp.out_features,
            "depth": len(model.layers),
            "time_dim": model.time_dim,
            "num_classes": model.num_classes,
        }
    return {"kind": type(model).__name__}


# Bounds on a sidecar, checked before anything it describes is allocated or read. The
# largest model of the paper (the 256x256 U-Net) has 114M parameters; MAX_PARAMS leaves
# room for bigger ones while refusing a spec that would need more than ~2 GB of float32.
MAX_PARAMS = 500_000_000
MAX_T = 100_000  # config.T: schedule tables are (T + 1,) float64, ~0.8 MB at MAX_T
_INT_BOUNDS = {  # field: (low, high), inclusive
    "mlp": {"dim": (1, 4096), "hidden": (1, 65536), "depth": (0, 1000)}
    | {"time_dim": (4, 65536)},
    "unet": {"in_channels": (1, 64), "out_channels": (1, 64), "ch": (2, 8192)}
    | {"num_res_blocks": (0, 64), "resolution": (1, 4096), "groups": (1, 8192)},
    "dit": {"in_channels": (1, 64), "image_size": (1, 4096), "patch": (1, 4096)}
    | {"dim": (8, 65536), "depth": (0, 1000), "heads": (1, 65536)},
}
_TUPLES = {"ch_mult": (1, 64), "attn_resolutions": (1, 4096)}  # entries, up to 16
_MAX_CLASSES = 1_000_000


def check_spec(spec: object) -> dict:
    """Check a sidecar's "model" spec before it is built; return its keyword arguments.

    spec: {"kind": "mlp", <MLPDenoiser arguments>} or {"kind": "unet" | "dit",
    "config": {<UNetConfig | DiTConfig fields>}}. Bounds: every size is an int within
    `_INT_BOUNDS` (e.g. an MLP's hidden in 1..65536, depth in 0..1000); ch_mult and
    attn_resolutions are lists of at most 16 ints; num_classes is None or 1..1e6;
    dropout is in [0, 1); eps and mlp_ratio in (0, 64]; the network has at most
    MAX_PARAMS (5e8) parameters, counted on the meta device (no memory). Raises
    ValueError naming the field.
    """
    if not isinstance(spec, dict) or spec.get("kind") not in _INT_BOUNDS:
        kind = spec.get("kind") if isinstance(spec, dict) else spec
        raise ValueError(
            "model kind must be 'unet', 'mlp' or 'dit' to rebuild from a checkpoint, "
            f"got {kind!r}"
        )
    kind = spec["kind"]
    if kind == "mlp":
        args = {k: v for k, v in spec.items() if k != "kind"}
        known = set(_INT_BOUNDS["mlp"]) | {"num_classes"}
    else:
        args = spec.get("config")
        if not isinstance(args, dict):
            raise ValueError(f"model.config must be a JSON object, got {args!r}")
        known = {f.name for f in fields(UNetConfig if kind == "unet" else DiTConfig)}
        args = {k: v for k, v in args.items() if k in known}  # newer fields: ignored
    unknown = sorted(set(args) - known)
    if unknown:
        raise ValueError(
            f"model: unknown {kind} fields {unknown}; allowed {sorted(known)}"
        )
    for name, value in args.items():
        args[name] = _check_field(kind, name, value)
    with torch.device("meta"):  # shapes only: nothing is allocated
        count = sum(p.numel() for p in _build(kind, args).parameters())
    if count > MAX_PARAMS:
        raise ValueError(
            f"model: this {kind} spec has {count:,} parameters; at most "
            f"{MAX_PARAMS:,} can be loaded"
        )
    return args


def _check_field(kind: str, name: str, v: object) -> object:
    """One spec field, type- and range-checked (lists become tuples)."""
    is_int = isinstance(v, int) and not isinstance(v, bool)
    if name in _INT_BOUNDS[kind]:
        low, high = _INT_BOUNDS[kind][name]
        if not is_int or not low <= v <= high:
            raise ValueError(
                f"model.{name} must be an integer in {low}..{high}, got {_short(v)}"
            )
    elif name in _TUPLES:
        low, high = _TUPLES[name]
        ok = isinstance(v, (list, tuple)) and len(v) <= 16
        if not ok or not all(_int_in(e, low, high) for e in v):
            raise ValueError(
                f"model.{name} must be a list of at most 16 integers in {low}..{high}, "
                f"got {_short(v)}"
            )
        return tuple(v)
    elif name == "num_classes":
        if v is not None and not _int_in(v, 1, _MAX_CLASSES):
            raise ValueError(
                f"model.num_classes must be null or an integer in 1..{_MAX_CLASSES}, "
                f"got {_short(v)}"
            )
    elif name == "dropout":
        if not _real(v) or not 0 <= v < 1:
            raise ValueError(
                f"model.dropout must be a number in [0, 1), got {_short(v)}"
            )
    elif name in ("eps", "mlp_ratio") and (not _real(v) or not 0 < v <= 64):
        raise ValueError(f"model.{name} must be a number in (0, 64], got {_short(v)}")
    return v


def _short(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _int_in(v: object, low: int, high: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _real(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _build(kind: str, args: dict) -> nn.Module:
    if kind == "unet":
        return UNet(UNetConfig(**args))
    if kind == "dit":
        return DiT(DiTConfig(**args))
    return MLPDenoiser(**args)


def model_from_spec(spec: dict) -> nn.Module:
    """Inverse of `model_spec` (random weights); ValueError if `check_spec` refuses."""
    args = check_spec(spec)
    return _build(spec["kind"], args)
