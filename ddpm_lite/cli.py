"""`python -m ddpm_lite train|sample|convert|evaluate`, with flags built from dataclass fields.

Every flag is a field of `TrainConfig`, `SampleConfig`, `ConvertConfig` or `EvalConfig`
(`--batch-size` sets batch_size; booleans come as `--bf16/--no-bf16`; dicts as JSON;
tuples as comma-separated values), so the command line cannot drift from the Python API:

    python -m ddpm_lite train --preset digits --steps 3000 --out-dir runs/digits
    python -m ddpm_lite train --preset digits --out-dir runs/digits --resume
    torchrun --nproc_per_node=2 -m ddpm_lite train --preset digits
    python -m ddpm_lite sample --checkpoint runs/digits --out digits.png
    python -m ddpm_lite convert --source google/ddpm-cifar10-32 --out-dir runs/cifar10-converted
    python -m ddpm_lite evaluate --checkpoint runs/digits --n 256
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Sequence

from .run_folder import FolderInUse
from .train_config import PRESETS, TrainConfig


@dataclass(frozen=True)
class SampleConfig:
    """`sample`: draw from a checkpoint's (EMA) model and write a PNG grid (and a tensor file)."""

    checkpoint: str  # a run directory, a ckpt-*.json or a .safetensors file
    out: str = "samples.png"
    tensor_out: str = ""  # also save the samples as .pt or .npz ("" = don't)
    n: int = 64
    sampler: str = "ddim"  # "ddim" or "ddpm" (all T steps, Algorithm 2)
    steps: int = 50  # DDIM steps
    eta: float = 0.0
    seed: int = 0
    ema: bool = True  # use the EMA weights when the checkpoint has them
    label: int = -1  # class to draw (class-conditional models; -1 = none)
    guidance: float = 0.0  # classifier-free guidance weight w (Ho & Salimans 2022)
    device: str = "auto"
    progress: bool = True


@dataclass(frozen=True)
class ConvertConfig:
    """`convert`: a diffusers UNet2DModel folder (or Hub id) -> our safetensors checkpoint."""

    source: str
    out_dir: str = "runs/converted"
    schedule: str = (
        "linear"  # recorded for `sample`: google/ddpm-* use linear, T = 1000
    )
    T: int = 1000


@dataclass(frozen=True)
class EvalConfig:
    """`evaluate`: bits/dim of the variational bound on a data subset, and the digits Frechet distance."""

    checkpoint: str
    dataset: str = ""  # "" = the data set the checkpoint was trained on
    data_root: str = "data"
    n: int = 256  # examples for bits/dim
    seed: int = 0
    ema: bool = True
    fd_samples: int = 1000  # samples for the Frechet distance (digits only; 0 = skip)
    fd_steps: int = 50  # DDIM steps for those samples
    device: str = "auto"


@dataclass(frozen=True)
class ExportConfig:
    """`export`: keep only the network (EMA weights by default) of a checkpoint, small enough to ship."""

    checkpoint: str
    out_dir: str
    ema: bool = True


# ---------------------------------------------------------------------------- flags from fields
def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {text!r}")


def _parse_dict(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(
            f"expected a JSON object, got {text!r} ({err})"
        ) from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def field_parser(tp: Any) -> Callable[[str], Any]:
    """A function str -> value for the annotation `tp` (int, float, str, bool, dict, tuple[X, ...], Optional[X])."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if (
        origin in (typing.Union, getattr(types, "UnionType", None))
        and type(None) in args
    ):
        inner = field_parser(next(a for a in args if a is not type(None)))
        return lambda text: None if text.lower() == "none" else inner(text)
    if origin is tuple:
        item = field_parser(args[0])
        return lambda text: tuple(item(v) for v in text.split(",") if v.strip())
    if tp is dict or origin is dict:
        return _parse_dict
    if tp is bool:
        return _parse_bool
    if tp in (int, float, str):
        return tp
    raise TypeError(f"no command-line parser for the annotation {tp!r}")


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """One `--field-name` per field of the dataclass `cls`, typed from its annotations.

    Unset flags are absent from the parsed namespace (default SUPPRESS), so the caller can
    lay them over a base config; fields without a default are required.
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp, flag = hints[f.name], "--" + f.name.replace("_", "-")
        has_default = (
            f.default is not dataclasses.MISSING
            or f.default_factory is not dataclasses.MISSING
        )
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else (f.default_factory() if has_default else None)
        )
        kw = dict(
            dest=f.name,
            default=argparse.SUPPRESS,
            help=f"{tp.__name__ if isinstance(tp, type) else tp} (default: {default!r})",
        )
        if tp is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        else:
            parser.add_argument(
                flag,
                type=field_parser(tp),
                required=not has_default,
                metavar=f.name.upper(),
                **kw,
            )


def config_from_args(cls: type, args: argparse.Namespace, base: Any = None) -> Any:
    """The dataclass `cls` from parsed flags, laid over `base` (an instance) when given."""
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)
        if hasattr(args, f.name)
    }
    return replace(base, **given) if base is not None else cls(**given)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ddpm_lite", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a model (Ho et al. 2020, Algorithm 1)")
    train.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="start from a small course setting; other flags override it",
    )
    add_dataclass_flags(train, TrainConfig)
    for name, cls, text in (
        ("sample", SampleConfig, "draw samples from a checkpoint"),
        ("convert", ConvertConfig, "convert diffusers weights to a checkpoint"),
        ("evaluate", EvalConfig, "bits/dim and the digits Frechet distance"),
        ("export", ExportConfig, "keep only the (EMA) network of a checkpoint"),
    ):
        add_dataclass_flags(sub.add_parser(name, help=text), cls)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the exit status (130 after Ctrl-C, once the checkpoint is saved)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            base = PRESETS[args.preset] if args.preset else TrainConfig()
            return run_train(config_from_args(TrainConfig, args, base))
        cls, run = {
            "sample": (SampleConfig, run_sample),
            "convert": (ConvertConfig, run_convert),
            "evaluate": (EvalConfig, run_evaluate),
            "export": (ExportConfig, run_export),
        }[args.command]
        return run(config_from_args(cls, args))
    except ValueError as err:
        parser.error(str(err))
    except (FolderInUse, FloatingPointError) as err:  # the run's state, not its flags
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:
        print(f"interrupted: {err}", file=sys.stderr)
        return 130
    return 0


# ---------------------------------------------------------------------------- commands
def run_train(c: TrainConfig) -> int:
    from .train import train

    result = train(c)
    if result.losses:
        print(
            f"step {result.step}: loss {result.losses[-1]:.4f}; checkpoint {result.checkpoint}"
        )
    return 0


def _model_and_schedule(path: str, ema: bool):
    from .checkpoint import load_checkpoint, load_model
    from .train_config import SCHEDULES

    ck = load_checkpoint(path)
    cfg = ck.meta.get("config") or {}
    return (
        ck,
        load_model(ck, ema=ema),
        SCHEDULES[cfg.get("schedule", "linear")](cfg.get("T", 1000)),
    )


def _eps_theta(model, c: SampleConfig):
    """The model as eps_theta(x_t, t): with a class label, and guided if c.guidance != 0."""
    import torch

    from .guidance import classifier_free_guidance

    null = getattr(model, "num_classes", None) or getattr(
        getattr(model, "config", None), "num_classes", None
    )
    if c.label < 0:
        return model
    if null is None or c.label >= null:
        raise ValueError(
            f"label must be in 0..{(null or 0) - 1} for this model (or -1 for none), got {c.label}"
        )
    if c.guidance != 0:
        return classifier_free_guidance(model, c.label, w=c.guidance, null_label=null)
    return lambda x_t, t: model(x_t, t, torch.full_like(t, c.label))


def run_sample(c: SampleConfig) -> int:
    import numpy as np
    import torch

    from .device import pick_device
    from .grids import save_png
    from .samplers import sample_ddim, sample_ddpm

    if c.n < 1 or c.steps < 1 or c.sampler not in ("ddim", "ddpm"):
        raise ValueError(
            f"need n >= 1, steps >= 1, sampler in ('ddim', 'ddpm'); got {c.n}, {c.steps}, {c.sampler!r}"
        )
    ck, model, s = _model_and_schedule(c.checkpoint, c.ema)
    device = pick_device(None if c.device == "auto" else c.device)
    model = model.to(device)
    shape = (
        (c.n, model.dim)
        if hasattr(model, "dim")
        else (
            c.n,
            model.config.in_channels,
            model.config.resolution,
            model.config.resolution,
        )
    )
    g = torch.Generator().manual_seed(c.seed)
    x_T = torch.randn(shape, generator=g).to(device)
    eps_theta = _eps_theta(model, c)
    if c.sampler == "ddpm":
        x_0 = sample_ddpm(eps_theta, s, x_T, generator=g, progress=c.progress)
    else:
        x_0 = sample_ddim(
            eps_theta,
            s,
            x_T,
            steps=min(c.steps, s.T),
            eta=c.eta,
            generator=g,
            progress=c.progress,
        )
    x_0 = x_0.float().cpu()
    print(f"wrote {save_png(x_0, c.out)}")
    if c.tensor_out:
        if c.tensor_out.endswith(".npz"):
            np.savez(c.tensor_out, samples=x_0.numpy())
        else:
            torch.save(x_0, c.tensor_out)
        print(f"wrote {c.tensor_out}")
    return 0


def run_convert(c: ConvertConfig) -> int:
    from .checkpoint import save_checkpoint
    from .pretrained import load_pretrained
    from .train_config import SCHEDULES

    if c.schedule not in SCHEDULES or c.T < 1:
        raise ValueError(
            f"schedule must be one of {sorted(SCHEDULES)} and T >= 1, got {c.schedule!r}, {c.T}"
        )
    unet = load_pretrained(c.source)
    path = save_checkpoint(
        c.out_dir,
        step=0,
        model=unet,
        config={"schedule": c.schedule, "T": c.T, "source": c.source},
        keep=0,
    )
    print(f"wrote {path}")
    return 0


def run_evaluate(c: EvalConfig) -> int:
    """Bits/dim (Ho et al. 2020, Eq. 5) on n examples; digits Frechet distance.

    The decoder's bins are the data's grey levels: 17 for the digits, 256 for 8-bit images.
    """
    import torch

    from .datasets import DIGIT_LEVELS
    from .device import pick_device
    from .losses import vlb_terms_bpd
    from .samplers import sample_ddim
    from .train import load_data
    from .train_config import IMAGE_SETS

    ck, model, s = _model_and_schedule(c.checkpoint, c.ema)
    dataset = c.dataset or (ck.meta.get("config") or {}).get("dataset", "")
    if dataset not in IMAGE_SETS or c.n < 1:
        raise ValueError(
            f"dataset must be one of {IMAGE_SETS} (bits/dim needs images) and n >= 1, got {dataset!r}, {c.n}"
        )
    device = pick_device(None if c.device == "auto" else c.device)
    model = model.to(device)
    x, _ = load_data(TrainConfig(dataset=dataset, data_root=c.data_root))
    g = torch.Generator().manual_seed(c.seed)
    x_0 = x[torch.randperm(len(x), generator=g)[: c.n]]
    bins = DIGIT_LEVELS if dataset == "digits" else 256
    x_0 = ((x_0 + 1) * (bins - 1) / 2).round() / (
        (bins - 1) / 2
    ) - 1  # exactly on the grid of Eq. 13
    bpd = (
        vlb_terms_bpd(model, s, x_0.to(device), bins=bins, generator=g)["total"]
        .mean()
        .item()
    )
    report = {"dataset": dataset, "n": c.n, "bins": bins, "bits_per_dim": bpd}
    if dataset == "digits" and c.fd_samples > 0:
        from . import metrics

        x_T = torch.randn((c.fd_samples, 1, 8, 8), generator=g).to(device)
        samples = sample_ddim(
            model, s, x_T, steps=min(c.fd_steps, s.T), generator=g, progress=False
        )
        report.update(
            digits_fd=metrics.digits_fd(samples.float().cpu()), fd_samples=c.fd_samples
        )
    print(json.dumps(report))
    return 0


def run_export(c: ExportConfig) -> int:
    from .checkpoint import export_model

    print(f"wrote {export_model(c.checkpoint, c.out_dir, ema=c.ema)}")
    return 0
