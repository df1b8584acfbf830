"""Where a lesson runs and how big it runs: device autodetection, the quick/full switch, seeds.

Every lesson starts with the same three lines::

    device = pick_device()          # CUDA, then Apple MPS, then CPU   (DDPM_LITE_DEVICE overrides)
    mode = run_mode(device)         # "quick" on a CPU, "full" on a GPU (DDPM_LITE_MODE overrides)
    generator = seed_everything(0)

and then sizes its work with ``by_mode(quick=..., full=..., mode=mode)``. The committed
outputs of the lessons are those of quick mode on a CPU, which is what the tests re-run.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

MODES = ("quick", "full")
DEVICES = ("cpu", "cuda", "mps")


def pick_device(prefer: str | None = None) -> torch.device:
    """The best available device: CUDA, then Apple MPS, then CPU.

    ``prefer`` (or the environment variable ``DDPM_LITE_DEVICE``) forces one of
    "cpu", "cuda", "mps"; asking for one that is not available raises ValueError.
    """
    wanted = (
        prefer if prefer is not None else os.environ.get("DDPM_LITE_DEVICE", "").strip()
    )
    if wanted:
        if wanted.split(":")[0] not in DEVICES:
            raise ValueError(
                f"device (DDPM_LITE_DEVICE) must be one of {DEVICES}, got {wanted!r}"
            )
        if wanted.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(
                f"device {wanted!r} was asked for but CUDA is not available here"
            )
        if wanted == "mps" and not _mps_available():
            raise ValueError(
                "device 'mps' was asked for but Apple MPS is not available here"
            )
        return torch.device(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def run_mode(device: torch.device | str | None = None) -> str:
    """ "quick" (about a minute on a 2-core CPU) or "full" (the bigger setting for a GPU).

    The environment variable ``DDPM_LITE_MODE`` (quick or full) wins; otherwise a CUDA
    device means "full" and anything else "quick".
    """
    wanted = os.environ.get("DDPM_LITE_MODE", "").strip().lower()
    if wanted:
        if wanted not in MODES:
            raise ValueError(f"DDPM_LITE_MODE must be one of {MODES}, got {wanted!r}")
        return wanted
    device = torch.device(device) if device is not None else pick_device()
    return "full" if device.type == "cuda" else "quick"


def by_mode(*, quick, full, mode: str):
    """The value for this run mode: ``by_mode(quick=2_000, full=50_000, mode=mode)``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return quick if mode == "quick" else full


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU ``torch.Generator`` with that seed.

    Pass the returned generator to the package's samplers and data functions so that a
    lesson's random numbers do not depend on what other cells drew before.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an int in [0, 2**63), got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
