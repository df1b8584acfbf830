"""The configuration of a training run: a frozen dataclass with the paper's defaults.

Defaults are Ho et al. 2020, Sec. 4 and Appendix B (CIFAR10): Adam at 2e-4, batch 128,
warm-up 5000 steps, gradient clipping at 1, EMA decay 0.9999, dropout 0.1, T = 1000 with the
linear schedule, 800k steps. `PRESETS` holds the course's small CPU settings. The command
line builds its flags from these fields (`ddpm_lite.cli`). Lesson 06.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .model_spec import MAX_T, check_spec
from .schedule import cosine_schedule, linear_schedule
from .toys import TOYS
from .unet import PRESETS as UNET_PRESETS
from .unet import UNetConfig

IMAGE_SETS = ("digits", "mnist", "fashion_mnist", "cifar10")
DATASETS = IMAGE_SETS + tuple(sorted(TOYS))
MODELS = tuple(UNET_PRESETS) + ("mlp",)


def linear_schedule_for(T: int):
    """The paper's linear schedule stretched to T steps: betas scaled by 1000 / T (capped at 0.999).

    Keeps sum(beta), hence alpha_bar_T ~ 4e-5, about what it is at T = 1000, so x_T is noise
    for any T (the scaling of Nichol & Dhariwal 2021's code); equal to the paper's at T = 1000.
    """
    scale = 1000 / T
    return linear_schedule(T, beta_1=1e-4 * scale, beta_T=min(0.02 * scale, 0.999))


SCHEDULES = {"linear": linear_schedule_for, "cosine": cosine_schedule}
# Fields that fix the model's shape or the data order: a resumed run must not change them.
RESUME_FIXED = (
    "model",
    "model_overrides",
    "dropout",
    "dataset",
    "n_toy",
    "schedule",
    "T",
    "batch_size",
    "seed",
    "class_conditional",
    "augment",
)


BOOLEANS = (
    "download",
    "augment",
    "bf16",
    "class_conditional",
    "resume",
    "overwrite",
    "progress",
)
AT_LEAST_1 = ("steps", "batch_size", "n_toy", "sample_steps", "n_samples")
AT_LEAST_0 = ("warmup", "sample_every", "checkpoint_every", "keep")
MAX_SEED = 2**63 - 1
# name: (the range as shown, the test); all finite numbers
INTERVALS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "lr": ("(0, inf)", lambda v: v > 0),
    "grad_clip": ("[0, inf)", lambda v: v >= 0),
    "ema_decay": ("[0, 1)", lambda v: 0 <= v < 1),
    "p_uncond": ("[0, 1]", lambda v: 0 <= v <= 1),
    "dropout": ("[0, 1)", lambda v: 0 <= v < 1),
}
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
MLP_OVERRIDES = (
    "hidden",
    "depth",
    "time_dim",
)  # dim and num_classes come from the data


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. Defaults: Ho et al. 2020, Sec. 4 and Appendix B (CIFAR10)."""

    model: str = "cifar10"  # a UNet preset (see ddpm_lite.unet.PRESETS) or "mlp"
    model_overrides: dict = field(
        default_factory=dict
    )  # UNetConfig fields / MLPDenoiser arguments
    dropout: float = 0.1  # U-Net dropout (paper: 0.1 on CIFAR10); model_overrides wins
    dataset: str = (
        "cifar10"  # "digits", "mnist", "fashion_mnist", "cifar10" or a 2-D toy
    )
    data_root: str = "data"  # folder of the downloadable image sets
    download: bool = False
    n_toy: int = 8192  # number of points drawn once for a 2-D toy set
    augment: bool = True  # the data set's augmentation (random flips on CIFAR10)
    schedule: str = "linear"  # "linear" (the paper's) or "cosine"
    T: int = 1000
    steps: int = 800_000  # optimizer steps (CIFAR10: 800k)
    batch_size: int = 128  # global batch, split evenly over the processes
    lr: float = 2e-4  # Adam
    warmup: int = 5000  # steps of linear learning-rate warm-up (0 = none)
    grad_clip: float = 1.0  # max global gradient norm (0 = no clipping)
    ema_decay: float = 0.9999
    seed: int = 0
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:N" or "mps"
    bf16: bool = False  # bfloat16 autocast for the forward pass
    class_conditional: bool = (
        False  # feed labels y; drop them with probability p_uncond
    )
    p_uncond: float = 0.1  # classifier-free guidance label dropout (Ho & Salimans 2022)
    sample_every: int = 5000  # steps between sample grids (0 = never)
    sample_steps: int = 50  # DDIM steps for those grids
    n_samples: int = 64
    checkpoint_every: int = (
        5000  # steps between checkpoints (0 = never; then Ctrl-C saves nothing)
    )
    keep: int = 2  # checkpoints kept in out_dir (0 = all)
    out_dir: str = "runs/ddpm"
    resume: bool = False  # continue from the newest checkpoint in out_dir
    overwrite: bool = False  # delete the checkpoints already in out_dir (a fresh run)
    progress: bool = True

    def __post_init__(self):
        check_config(self)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> TrainConfig:
        """A small course setting ("digits", "two_moons") with fields overridden."""
        if name not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {name!r}")
        return replace(PRESETS[name], **overrides)


def check_config(c: TrainConfig) -> None:
    """ValueError naming the first field that is out of range (cheap: runs before any loading)."""
    _choice(c.model, MODELS, "model")
    _choice(c.dataset, DATASETS, "dataset")
    _choice(c.schedule, tuple(SCHEDULES), "schedule")
    for name in BOOLEANS:
        if not isinstance(getattr(c, name), bool):
            raise ValueError(f"{name} must be True or False, got {getattr(c, name)!r}")
    if c.resume and c.overwrite:
        raise ValueError("resume and overwrite exclude each other: pass one of them")
    if not isinstance(c.device, str) or not DEVICE.fullmatch(c.device):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {c.device!r}"
        )
    if not isinstance(c.model_overrides, dict):
        raise ValueError(
            f"model_overrides must be a dict, got {type(c.model_overrides).__name__}"
        )
    for name in AT_LEAST_1:
        _int_at_least(getattr(c, name), 1, name)
    for name in AT_LEAST_0:
        _int_at_least(getattr(c, name), 0, name)
    _int_in(c.T, 1, MAX_T, "T")  # a checkpoint's T is bounded the same way
    _int_in(c.seed, 0, MAX_SEED, "seed")
    for name, (shown, ok) in INTERVALS.items():
        _number_in(getattr(c, name), name, shown, ok)
    if c.class_conditional and c.dataset not in IMAGE_SETS:
        raise ValueError(
            f"class_conditional needs a labelled data set {IMAGE_SETS}, got dataset={c.dataset!r}"
        )
    _check_overrides(c)


def _check_overrides(c: TrainConfig) -> None:
    """model_overrides: known keys of the chosen model, each of the right type and in
    the bounds of `model_spec.check_spec` (so every trained model loads again)."""
    over = c.model_overrides
    if not over:
        return
    if c.model == "mlp":
        allowed = MLP_OVERRIDES
        spec = {"kind": "mlp", **over}
    else:
        allowed = tuple(f.name for f in fields(UNetConfig))
        base = {**asdict(UNET_PRESETS[c.model]), "dropout": c.dropout}
        spec = {"kind": "unet", "config": {**base, **over}}
    unknown = sorted(set(over) - set(allowed))
    if unknown:
        raise ValueError(
            f"model_overrides: unknown key(s) {unknown} for model={c.model!r}; "
            f"allowed: {list(allowed)}"
        )
    try:
        check_spec(spec)
    except ValueError as err:  # "model.hidden must be ..." -> "hidden must be ..."
        raise ValueError(
            f"model_overrides: {str(err).removeprefix('model.')}"
        ) from None


def allowed_values() -> dict[str, str]:
    """What each field accepts, in words (the ranges `check_config` enforces)."""
    shown = {name: "on/off switch" for name in BOOLEANS}
    shown.update({name: "integer >= 1" for name in AT_LEAST_1})
    shown.update({name: "integer >= 0" for name in AT_LEAST_0})
    shown.update({name: f"number in {r}" for name, (r, _) in INTERVALS.items()})
    shown.update(
        model=", ".join(MODELS),
        dataset=", ".join(DATASETS),
        schedule=", ".join(SCHEDULES),
        T=f"integer in 1..{MAX_T}",
        seed="integer in 0..2**63-1",
        device="auto, cpu, cuda, cuda:N or mps",
        model_overrides=(
            "JSON object of UNetConfig fields (U-Net models) or "
            f"{', '.join(MLP_OVERRIDES)} (mlp)"
        ),
        data_root="a folder",
        out_dir="a folder (created if missing)",
    )
    return shown


def _choice(v: object, choices: tuple, name: str) -> None:
    if v not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {v!r}")


def _int_at_least(v: object, low: int, name: str) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")


def _int_in(v: object, low: int, high: int, name: str) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}, got {v!r}")


def _number_in(v: object, name: str, shown: str, ok: Callable[[float], bool]) -> None:
    if (
        isinstance(v, bool)
        or not isinstance(v, (int, float))
        or not math.isfinite(v)
        or not ok(v)
    ):
        raise ValueError(f"{name} must be a number in {shown}, got {v!r}")


PRESETS: dict[str, TrainConfig] = {
    # digits8 U-Net on the 1,797 8x8 digits: short warm-up and EMA; ~3 min on a 2-core CPU.
    "digits": TrainConfig(
        model="digits8",
        dropout=0.0,
        dataset="digits",
        T=1000,
        steps=1500,
        batch_size=128,
        lr=1e-3,
        warmup=200,
        ema_decay=0.995,
        sample_every=1000,
        sample_steps=50,
        checkpoint_every=1000,
        out_dir="runs/digits",
    ),
    # MLP on two moons: seconds on a CPU.
    "two_moons": TrainConfig(
        model="mlp",
        dropout=0.0,
        dataset="two_moons",
        T=100,
        steps=2000,
        batch_size=256,
        lr=1e-3,
        warmup=100,
        ema_decay=0.99,
        sample_every=0,
        sample_steps=50,
        n_samples=2000,
        checkpoint_every=0,
        out_dir="runs/two_moons",
    ),
}
