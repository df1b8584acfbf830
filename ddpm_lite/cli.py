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
import math
import re
import sys
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .model_spec import MAX_T
from .run_folder import FolderInUse
from .train_config import (
    DATASETS,
    DEVICE,
    IMAGE_SETS,
    MAX_SEED,
    MODELS,
    PRESETS,
    SCHEDULES,
    TrainConfig,
    allowed_values,
)


@dataclass(frozen=True)
class SampleConfig:
    """`sample`: draw from a checkpoint's (EMA) model and write a PNG grid (and a tensor file)."""

    checkpoint: str  # a run directory, a ckpt-*.json or a .safetensors file
    out: str = "samples.png"
    tensor_out: str = ""  # also save the samples as .pt or .npz ("" = don't)
    n: int = 64
    batch_size: int = (
        256  # samples per network call; n is drawn in ceil(n / batch_size)
    )
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
    n: int = 256  # examples for bits/dim (at most the data set's size)
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


SAMPLERS = ("ddim", "ddpm")
PNG_MAX = 1024  # the PNG grid shows at most this many samples (the tensor file has all)
_CHECKPOINT = (
    "a run folder, a ckpt-*.json or model-*.json sidecar, a .safetensors file or a "
    ".pt/.pth/.bin state dict"
)
_DEVICE = "auto, cpu, cuda, cuda:N or mps"
_SEED = "integer in 0..2**63-1"
# What each flag accepts, for --help (TrainConfig's: train_config.allowed_values).
ALLOWED: dict[type, dict[str, str]] = {
    SampleConfig: {
        "checkpoint": _CHECKPOINT,
        "out": f"a .png path (folder created); it shows the first {PNG_MAX} samples",
        "tensor_out": "'' (none), or a .npz or .pt path in an existing folder",
        "n": "integer >= 1",
        "batch_size": (
            "integer >= 1; DDIM with eta = 0 gives the same samples for any value, "
            "ddpm and eta > 0 draw per-batch noise"
        ),
        "sampler": ", ".join(SAMPLERS),
        "steps": "integer >= 1 (at most the model's T are used)",
        "eta": "finite number >= 0 (0 = deterministic DDIM)",
        "seed": _SEED,
        "ema": "on/off switch",
        "label": "-1 (none) or 0..num_classes-1 of a class-conditional model",
        "guidance": "finite number; != 0 needs a class-conditional model and --label",
        "device": _DEVICE,
        "progress": "on/off switch",
    },
    ConvertConfig: {
        "source": (
            "a diffusers UNet2DModel folder, or a Hugging Face Hub id such as "
            "google/ddpm-cifar10-32 (needs the network)"
        ),
        "out_dir": "a folder (created if missing)",
        "schedule": ", ".join(SCHEDULES),
        "T": f"integer in 1..{MAX_T}",
    },
    EvalConfig: {
        "checkpoint": _CHECKPOINT,
        "dataset": "'' (the checkpoint's) or " + ", ".join(IMAGE_SETS),
        "data_root": "a folder holding torchvision's layout (mnist, cifar10, ...)",
        "n": "integer in 1..the data set's size (digits: 1797)",
        "seed": _SEED,
        "ema": "on/off switch",
        "fd_samples": "integer >= 0 (digits only; 0 = skip)",
        "fd_steps": "integer >= 1",
        "device": _DEVICE,
    },
    ExportConfig: {
        "checkpoint": _CHECKPOINT,
        "out_dir": "a folder without model-<step>.* files (created if missing)",
        "ema": "on/off switch",
    },
}
CHOICES: dict[type, dict[str, tuple]] = {
    TrainConfig: {"model": MODELS, "dataset": DATASETS, "schedule": tuple(SCHEDULES)},
    SampleConfig: {"sampler": SAMPLERS},
    ConvertConfig: {"schedule": tuple(SCHEDULES)},
    EvalConfig: {"dataset": ("", *IMAGE_SETS)},
}


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


def add_dataclass_flags(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    allowed: dict[str, str] | None = None,
    choices: dict[str, tuple] | None = None,
) -> None:
    """One `--field-name` per field of the dataclass `cls`, typed from its annotations.

    Unset flags are absent from the parsed namespace (default SUPPRESS), so the caller can
    lay them over a base config; fields without a default are required. `allowed` says
    in words what a field accepts (shown by --help); `choices` restricts it to a set.
    """
    allowed, choices = allowed or {}, choices or {}
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
        what = allowed.get(f.name, tp.__name__ if isinstance(tp, type) else str(tp))
        shown = f"default: {default!r}" if has_default else "required"
        kw = dict(
            dest=f.name,
            default=argparse.SUPPRESS,
            help=f"{what} ({shown})".replace("%", "%%"),
        )
        if tp is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        else:
            parser.add_argument(
                flag,
                type=field_parser(tp),
                required=not has_default,
                metavar=f.name.upper(),
                choices=choices.get(f.name),
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


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line, exit status 2, no usage."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")


def one_line(text: str, limit: int = 600) -> str:
    """`text` with its lines joined by spaces, cut to `limit` characters."""
    flat = " ".join(line.strip() for line in str(text).splitlines() if line.strip())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


_DEBUG = "on an error, show its full traceback instead of one line"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m ddpm_lite", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--debug", action="store_true", help=_DEBUG)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a model (Ho et al. 2020, Algorithm 1)")
    train.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="start from a small course setting; other flags override it "
        f"({', '.join(sorted(PRESETS))}; digits needs no download)",
    )
    add_dataclass_flags(
        train, TrainConfig, allowed=allowed_values(), choices=CHOICES[TrainConfig]
    )
    for name, cls, text in (
        ("sample", SampleConfig, "draw samples from a checkpoint"),
        ("convert", ConvertConfig, "convert diffusers weights to a checkpoint"),
        ("evaluate", EvalConfig, "bits/dim and the digits Frechet distance"),
        ("export", ExportConfig, "keep only the (EMA) network of a checkpoint"),
    ):
        add_dataclass_flags(
            sub.add_parser(name, help=text),
            cls,
            allowed=ALLOWED[cls],
            choices=CHOICES.get(cls),
        )
    for command in sub.choices.values():  # --debug after the command works too
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG
        )
    return parser


COMMANDS = {
    "train": TrainConfig,
    "sample": SampleConfig,
    "convert": ConvertConfig,
    "evaluate": EvalConfig,
    "export": ExportConfig,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (130 after Ctrl-C, once saved).

    An error of the command line or of its inputs ends with one line on stderr that
    names the flag, and exit status 2 (SystemExit); an error of the run's state (another
    run owns the folder, the loss went NaN) returns 1. `--debug` re-raises instead.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    cls = COMMANDS[args.command]
    prog = f"{parser.prog} {args.command}"
    try:
        if args.command == "train":
            base = PRESETS[args.preset] if args.preset else TrainConfig()
            bare = args.preset is None and not _given(args, TrainConfig)
            return run_train(config_from_args(TrainConfig, args, base), bare=bare)
        run = {
            "sample": run_sample,
            "convert": run_convert,
            "evaluate": run_evaluate,
            "export": run_export,
        }[args.command]
        return run(config_from_args(cls, args))
    except KeyboardInterrupt as err:
        print(f"interrupted: {err}", file=sys.stderr)
        return 130
    except Exception as err:
        if args.debug:
            raise
        status, message = explain(err, cls)
        print(f"{prog}: error: {message}", file=sys.stderr)
        if status == 2:
            raise SystemExit(2) from None
        return status


def _given(args: argparse.Namespace, cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if hasattr(args, f.name)]


def explain(err: Exception, cls: type) -> tuple[int, str]:
    """(exit status, one line) for an error that ends a command.

    1 for the run's state (FolderInUse, FloatingPointError), else 2. A message that
    starts with a field of `cls` starts with its flag instead ("steps must be ..." ->
    "--steps must be ..."). Errors that no check anticipated say their type and point
    at --debug.
    """
    text = one_line(str(err)) or type(err).__name__
    if isinstance(err, (FolderInUse, FloatingPointError)):
        return 1, text
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        return 2, f"out of memory ({text}); try a smaller --batch-size or --n"
    if not isinstance(err, (ValueError, OSError)):
        return 2, f"{type(err).__name__}: {text} (--debug shows the traceback)"
    head = re.match(r"[A-Za-z_]+", text)
    names = {f.name for f in dataclasses.fields(cls)}
    if head and head.group() in names:
        text = "--" + head.group().replace("_", "-") + text[head.end() :]
    return 2, text


# ---------------------------------------------------------------------------- checks
def _check_device(text: str) -> None:
    """device: one of auto, cpu, cuda, cuda:N (N < the number of GPUs) or mps."""
    if not isinstance(text, str) or not DEVICE.fullmatch(text):
        raise ValueError(f"device must be one of {_DEVICE}, got {text!r}")
    import torch

    if text.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(
                f"device {text!r} needs CUDA, which is not available here: "
                "pass --device cpu (or auto)"
            )
        index = int(text.partition(":")[2] or 0)
        if index >= count:
            raise ValueError(
                f"device {text!r}: this machine has {count} CUDA device(s), "
                f"cuda:0..cuda:{count - 1}"
            )


def _int_in(value: int, low: int, high: float, name: str) -> None:
    if not low <= value <= high:
        shown = f">= {low}" if high == math.inf else f"in {low}..{high}"
        raise ValueError(f"{name} must be an integer {shown}, got {value}")


def _check_out_file(path: str, name: str) -> None:
    """An output file: not a folder, and (tensor_out) in a folder that exists."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{name} {path!r} is a folder; give a file name")
    if name == "tensor_out" and not p.parent.is_dir():
        raise ValueError(
            f"tensor_out {path!r}: its folder {str(p.parent)!r} does not exist"
        )
    if name == "tensor_out" and p.suffix not in (".npz", ".pt", ".pth"):
        raise ValueError(f"tensor_out must end in .npz or .pt, got {path!r}")
    for folder in p.parents:
        if folder.exists() and not folder.is_dir():
            raise ValueError(
                f"{name} {path!r}: {str(folder)!r} is a file, not a folder"
            )


def _check_sample(c: SampleConfig) -> None:
    """Every flag of `sample`, before the checkpoint is read."""
    _int_in(c.n, 1, math.inf, "n")
    _int_in(c.batch_size, 1, math.inf, "batch_size")
    _int_in(c.steps, 1, math.inf, "steps")
    _int_in(c.seed, 0, MAX_SEED, "seed")
    _int_in(c.label, -1, math.inf, "label")
    if c.sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {c.sampler!r}")
    if not math.isfinite(c.eta) or c.eta < 0:
        raise ValueError(f"eta must be a finite number >= 0, got {c.eta}")
    if not math.isfinite(c.guidance):
        raise ValueError(f"guidance must be a finite number, got {c.guidance}")
    _check_device(c.device)
    _check_out_file(c.out, "out")
    if c.tensor_out:
        _check_out_file(c.tensor_out, "tensor_out")


def _missing_data(dataset: str, root: str) -> list[Path]:
    """The files of a downloadable image set that are not under `root` (torchvision's
    layout, as `datasets.load_dataset` reads it); [] for built-in and toy data."""
    from . import datasets

    if dataset == "cifar10":
        return [p for p in datasets._cifar_files(Path(root), True) if not p.is_file()]
    if dataset in ("mnist", "fashion_mnist"):
        files = datasets._idx_files(dataset, Path(root), True)
        return [p for p in files if datasets._present(p) is None]
    return []


def _check_data(dataset: str, root: str, *, download: bool, bare: bool = False) -> None:
    missing = [] if download else _missing_data(dataset, root)
    if not missing:
        return
    more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
    why = (
        "with no options, train is the paper's 800k-step CIFAR10 run, and "
        if bare
        else ""
    )
    raise ValueError(
        f"dataset {dataset!r}: {why}its files are not under --data-root {root!r} "
        f"(missing {str(missing[0])!r}{more}); pass --download to fetch them "
        "(needs torchvision) or --data-root FOLDER, or start small with "
        "--preset digits (built in, minutes on a CPU)"
    )


# ---------------------------------------------------------------------------- commands
def run_train(c: TrainConfig, *, bare: bool = False) -> int:
    """`train`; `bare`: no option was given (the error for missing data says so)."""
    from .train import train

    _check_device(c.device)
    _check_data(c.dataset, c.data_root, download=c.download, bare=bare)
    result = train(c)
    if result.losses:
        print(
            f"step {result.step}: loss {result.losses[-1]:.4f}; checkpoint {result.checkpoint}"
        )
    return 0


def _model_and_schedule(path: str, ema: bool):
    """(checkpoint, model, schedule) of `path`; ValueError naming --checkpoint."""
    from .checkpoint import load_checkpoint, load_model

    ck = load_checkpoint(path)
    model = load_model(ck, ema=ema)
    cfg = ck.meta.get("config") or {}
    schedule = cfg.get("schedule", "linear")
    if schedule not in SCHEDULES:
        raise ValueError(
            f"checkpoint {path!r}: config.schedule must be one of {sorted(SCHEDULES)}, "
            f"got {schedule!r}"
        )
    return ck, model, SCHEDULES[schedule](cfg.get("T", 1000))


def _sample_shape(model) -> tuple[int, ...]:
    """The shape of one sample of `model`: an MLP point, a U-Net or DiT image."""
    from .dit import DiT
    from .mlp import MLPDenoiser
    from .unet import UNet

    if isinstance(model, MLPDenoiser):
        return (model.dim,)
    if isinstance(model, UNet):
        side = model.config.resolution
        return (model.config.in_channels, side, side)
    if isinstance(model, DiT):
        side = model.config.image_size
        return (model.config.in_channels, side, side)
    raise ValueError(f"checkpoint: cannot sample a {type(model).__name__}")


def _num_classes(model) -> int | None:
    config = getattr(model, "config", None)
    return getattr(model, "num_classes", None) or getattr(config, "num_classes", None)


def _eps_theta(model, c: SampleConfig):
    """The model as eps_theta(x_t, t): with a class label, and guided if c.guidance != 0."""
    import torch

    from .guidance import classifier_free_guidance

    null = _num_classes(model)
    if null is None and c.label >= 0:
        raise ValueError(
            f"label {c.label}: this checkpoint's model is unconditional (it has no "
            "classes); leave --label at -1"
        )
    if null is None and c.guidance != 0:
        raise ValueError(
            f"guidance {c.guidance}: classifier-free guidance needs a class-"
            "conditional model, and this checkpoint's is unconditional; leave "
            "--guidance at 0"
        )
    if null is not None and c.label >= null:
        raise ValueError(
            f"label must be in 0..{null - 1} for this model (or -1 for none), "
            f"got {c.label}"
        )
    if c.guidance != 0 and c.label < 0:
        raise ValueError(
            f"guidance {c.guidance} needs a class to guide towards: pass --label "
            f"0..{null - 1}"
        )
    if c.label < 0:
        return model
    if c.guidance != 0:
        return classifier_free_guidance(model, c.label, w=c.guidance, null_label=null)
    return lambda x_t, t: model(x_t, t, torch.full_like(t, c.label))


def run_sample(c: SampleConfig) -> int:
    """`sample`, in batches of c.batch_size.

    x_T of all n samples is drawn first, in one call (so it is the same for any batch
    size), and each batch is denoised in place: DDIM with eta = 0 is deterministic given
    x_T, so its samples do not depend on --batch-size (up to float rounding: a matrix
    product of another batch size may round differently). The ddpm sampler and eta > 0
    draw fresh noise of the batch's shape at every step from one generator, so their
    samples depend on the batch size (equal batch sizes and seeds give equal samples).
    """
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from .device import pick_device
    from .grids import save_png
    from .samplers import sample_ddim, sample_ddpm

    _check_sample(c)
    _, model, s = _model_and_schedule(c.checkpoint, c.ema)
    eps_theta = _eps_theta(model, c)
    device = pick_device(None if c.device == "auto" else c.device)
    model = model.to(device)
    g = torch.Generator().manual_seed(c.seed)
    x = torch.randn((c.n, *_sample_shape(model)), generator=g)  # x_T, on the CPU
    starts = range(0, c.n, c.batch_size)
    one = len(starts) == 1
    for i in tqdm(starts, disable=one or not c.progress, desc="batches"):
        x_T = x[i : i + c.batch_size].to(device)
        if c.sampler == "ddpm":
            x_0 = sample_ddpm(
                eps_theta, s, x_T, generator=g, progress=c.progress and one
            )
        else:
            x_0 = sample_ddim(
                eps_theta,
                s,
                x_T,
                steps=min(c.steps, s.T),
                eta=c.eta,
                generator=g,
                progress=c.progress and one,
            )
        x[i : i + c.batch_size] = x_0.float().cpu()
    shown = "" if c.n <= PNG_MAX else f" (the first {PNG_MAX} of {c.n} samples)"
    print(f"wrote {save_png(x[:PNG_MAX], c.out)}{shown}")
    if c.tensor_out:
        if c.tensor_out.endswith(".npz"):
            np.savez(c.tensor_out, samples=x.numpy())
        else:
            torch.save(x, c.tensor_out)
        print(f"wrote {c.tensor_out}")
    return 0


_HUB_ID = re.compile(r"\w[\w.-]*(/\w[\w.-]*)?")


def _check_source(source: str) -> None:
    """source: an existing folder, or something shaped like a Hub id (owner/name)."""
    p = Path(source).expanduser()
    if p.is_dir():
        return
    if p.exists():
        raise ValueError(
            f"source {source!r} is a file; pass a diffusers model folder (config.json "
            "and diffusion_pytorch_model.safetensors) or a Hub id"
        )
    if not _HUB_ID.fullmatch(source):
        raise ValueError(
            f"source: no such folder {source!r} (and it is not a Hub id such as "
            "google/ddpm-cifar10-32)"
        )


def run_convert(c: ConvertConfig) -> int:
    from .checkpoint import save_checkpoint
    from .pretrained import load_pretrained

    if c.schedule not in SCHEDULES:
        raise ValueError(
            f"schedule must be one of {sorted(SCHEDULES)}, got {c.schedule!r}"
        )
    _int_in(c.T, 1, MAX_T, "T")
    if Path(c.out_dir).exists() and not Path(c.out_dir).is_dir():
        raise ValueError(f"out_dir {c.out_dir!r} is a file, not a folder")
    _check_source(c.source)
    try:
        unet = load_pretrained(c.source)
    except ValueError as err:  # every error of load_pretrained is about the source
        raise ValueError(f"source: {str(err).removeprefix('name_or_path: ')}") from None
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
    n larger than the data set is refused (not clamped): the reported n is the real one.
    """
    import torch

    from .datasets import DIGIT_LEVELS
    from .device import pick_device
    from .losses import vlb_terms_bpd
    from .samplers import sample_ddim
    from .train import load_data

    _int_in(c.n, 1, math.inf, "n")
    _int_in(c.seed, 0, MAX_SEED, "seed")
    _int_in(c.fd_samples, 0, math.inf, "fd_samples")
    _int_in(c.fd_steps, 1, math.inf, "fd_steps")
    _check_device(c.device)
    if c.dataset and c.dataset not in IMAGE_SETS:
        raise ValueError(
            f"dataset must be '' or one of {IMAGE_SETS}, got {c.dataset!r}"
        )
    ck, model, s = _model_and_schedule(c.checkpoint, c.ema)
    dataset = c.dataset or (ck.meta.get("config") or {}).get("dataset", "")
    if dataset not in IMAGE_SETS:
        raise ValueError(
            f"dataset: bits/dim needs an image set {IMAGE_SETS}; this checkpoint was "
            f"trained on {dataset!r}: pass --dataset"
        )
    _check_data(dataset, c.data_root, download=False)
    x, _ = load_data(TrainConfig(dataset=dataset, data_root=c.data_root))
    if c.n > len(x):
        raise ValueError(
            f"n must be at most {len(x)}, the size of the {dataset} training set, "
            f"got {c.n}"
        )
    if tuple(x.shape[1:]) != _sample_shape(model):
        raise ValueError(
            f"dataset {dataset!r} has images of shape {tuple(x.shape[1:])}, but the "
            f"checkpoint's model makes {_sample_shape(model)}: pass its --dataset"
        )
    device = pick_device(None if c.device == "auto" else c.device)
    model = model.to(device)
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
