"""Checkpoints that load without running code: safetensors for tensors, JSON for the rest.

A checkpoint is two files written atomically (temp file in the same directory, fsync,
`os.replace`), the tensors first and the JSON sidecar last:

    ckpt-000010.safetensors   model.*, ema.*, optim.<i>.<key>, rng.torch_cpu, rng.cuda.<d>
    ckpt-000010.json          step, config, model spec, optimizer param groups and scalars,
                              RNG states of python / numpy, data-order state, sha256 of the above

The sidecar is the commit record: a checkpoint exists once its JSON exists and the tensor
file's digest matches, so a crash at any point leaves the previous checkpoint usable.
Loading uses `safetensors` and `json` only; a legacy `.pt` file is read with
`torch.load(weights_only=True)`, which refuses pickled code. Lesson 06.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from .model_spec import MAX_T, _int_in, check_spec, model_from_spec, model_spec

FORMAT = "ddpm_lite-checkpoint-v1"
_NAME = re.compile(r"^ckpt-(\d+)\.json$")
_EXPORT = re.compile(r"^model-(\d+)\.json$")
PathLike = str | os.PathLike


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """A loaded checkpoint: `meta` is the JSON sidecar, `tensors` the safetensors contents."""

    path: Path
    meta: dict
    tensors: dict

    def state(self, prefix: str) -> dict[str, Tensor]:
        """The tensors whose names start with `prefix + "."`, prefix stripped ("model", "ema")."""
        n = len(prefix) + 1
        return {k[n:]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}


# ---------------------------------------------------------------------------- atomic files
def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write `data` to `path` so that `path` holds either its old or its new contents, never a mix.

    Temp file in the same directory (same file system, so `os.replace` is atomic), fsync,
    rename over `path`, then fsync the directory so the rename itself survives a power cut.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- sidecar checks
def check_sidecar(meta: dict, where: str) -> None:
    """Check the sidecar fields that are read before its tensors.

    ValueError unless step is an int >= 0, sha256 is 64 hex digits, the model spec (if
    present) passes `check_spec`, config.T (if present) is an integer in 1..MAX_T (1e5)
    and config.schedule (if present) is a string.
    """
    if not _int_in(meta.get("step"), 0, 2**63 - 1):
        raise ValueError(f"checkpoint: {where}: step must be an integer >= 0")
    if not isinstance(meta.get("sha256"), str) or not re.fullmatch(
        r"[0-9a-f]{64}", meta["sha256"]
    ):
        raise ValueError(f"checkpoint: {where}: sha256 must be 64 hex digits")
    if "model" in meta:
        try:
            check_spec(meta["model"])
        except ValueError as err:
            raise ValueError(f"checkpoint: {where}: {err}") from None
    config = meta.get("config")
    if config is None:
        return
    if not isinstance(config, dict):
        raise ValueError(  # noqa: TRY004 (a bad file, not a bad call)
            f"checkpoint: {where}: config must be a JSON object or null"
        )
    if "T" in config and not _int_in(config["T"], 1, MAX_T):
        raise ValueError(
            f"checkpoint: {where}: config.T must be an integer in 1..{MAX_T}, "
            f"got {config['T']!r}"
        )
    if not isinstance(config.get("schedule", ""), str):
        raise ValueError(  # noqa: TRY004
            f"checkpoint: {where}: config.schedule must be a string"
        )


# ---------------------------------------------------------------------------- optimizer + RNG
def optimizer_state(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict]:
    """Split an optimizer's state dict into tensors (for safetensors) and JSON-able rest."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for i, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, Tensor):
                tensors[f"optim.{i}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(i), {})[k] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer_state(opt: torch.optim.Optimizer, ckpt: Checkpoint) -> None:
    """Restore what `optimizer_state` split, exactly (tensors bit for bit)."""
    meta = ckpt.meta["optimizer"]
    state: dict[int, dict] = {int(i): dict(v) for i, v in meta["scalars"].items()}
    for key, v in ckpt.state("optim").items():
        i, name = key.split(".", 1)
        state.setdefault(int(i), {})[name] = v
    opt.load_state_dict(
        {"state": dict(sorted(state.items())), "param_groups": meta["param_groups"]}
    )


def rng_state() -> tuple[dict[str, Tensor], dict]:
    """RNG states of torch (CPU, every CUDA device), python's `random` and numpy's global generator."""
    tensors = {"rng.torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors.update(
            {f"rng.cuda.{d}": s for d, s in enumerate(torch.cuda.get_rng_state_all())}
        )
    py = random.getstate()
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return tensors, {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
    }


def restore_rng(ckpt: Checkpoint) -> None:
    """Put back the RNG states saved by `rng_state` (CUDA only if both sides have it)."""
    rng = ckpt.meta["rng"]
    random.setstate((rng["python"][0], tuple(rng["python"][1]), rng["python"][2]))
    name, keys, pos, has_gauss, gauss = rng["numpy"]
    np.random.set_state(
        (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss)
    )
    torch.set_rng_state(ckpt.tensors["rng.torch_cpu"])
    cuda = [
        ckpt.tensors[f"rng.cuda.{d}"]
        for d in range(sum(k.startswith("rng.cuda.") for k in ckpt.tensors))
    ]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


# ---------------------------------------------------------------------------- save / load
def save_checkpoint(
    out_dir: PathLike,
    *,
    step: int,
    model: nn.Module,
    ema: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    config: dict | None = None,
    extra: dict | None = None,
    keep: int = 2,
) -> Path:
    """Write ckpt-<step>.safetensors, then its JSON sidecar, both atomically; return the JSON path.

    Keeps the newest `keep` checkpoints of `out_dir` (0 = keep all). `config` and `extra`
    (e.g. the data-order state) must be JSON-able.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {
        f"model.{k}": v.detach().cpu().contiguous()
        for k, v in model.state_dict().items()
    }
    if ema is not None and ema is not model:
        tensors.update(
            {
                f"ema.{k}": v.detach().cpu().contiguous()
                for k, v in ema.state_dict().items()
            }
        )
    rng_tensors, rng = rng_state()
    tensors.update(rng_tensors)
    optim = None
    if optimizer is not None:
        opt_tensors, optim = optimizer_state(optimizer)
        tensors.update(opt_tensors)
    fields = {"config": config, "optimizer": optim, "rng": rng, **(extra or {})}
    sidecar = _write_pair(
        out / f"ckpt-{step:06d}.safetensors", tensors, step, model, fields
    )
    _prune(out, keep)
    return sidecar


def _write_pair(
    weights: Path, tensors: dict, step: int, model: nn.Module, fields: dict
) -> Path:
    """The tensors, then the sidecar that commits them (both atomic); return the sidecar."""
    blob = st_save(tensors, metadata={"format": FORMAT, "step": str(step)})
    atomic_write_bytes(weights, blob)
    meta = {
        "format": FORMAT,
        "step": step,
        "weights": weights.name,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "model": model_spec(model),
        **fields,
    }
    sidecar = weights.with_suffix(".json")
    atomic_write_bytes(sidecar, json.dumps(meta, indent=1).encode())  # the commit, last
    return sidecar


def _prune(out: Path, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints: the sidecar first, so none is ever half there."""
    if keep < 1:
        return
    for old in list_checkpoints(out)[:-keep]:
        old.unlink(missing_ok=True)
        old.with_suffix(".safetensors").unlink(missing_ok=True)


def _by_step(out_dir: PathLike, name: re.Pattern) -> list[Path]:
    found = [
        (int(m.group(1)), p)
        for p in Path(out_dir).glob("*.json")
        if (m := name.match(p.name))
    ]
    return [p for _, p in sorted(found)]


def list_checkpoints(out_dir: PathLike) -> list[Path]:
    """The checkpoint sidecars (ckpt-<step>.json) in `out_dir`, oldest first."""
    return _by_step(out_dir, _NAME)


def list_exports(out_dir: PathLike) -> list[Path]:
    """The exported networks (model-<step>.json, written by `export_model`), oldest first."""
    return _by_step(out_dir, _EXPORT)


def latest_checkpoint(out_dir: PathLike) -> Path | None:
    """The newest checkpoint sidecar in `out_dir`, or None."""
    found = list_checkpoints(out_dir) if Path(out_dir).is_dir() else []
    return found[-1] if found else None


def load_newest_intact(out_dir: PathLike) -> Checkpoint | None:
    """The newest checkpoint of `out_dir` that loads (digest and format checked); a warning
    for each newer one that does not. None if the folder holds no checkpoint, or an
    exported network (model-<step>.json) if it holds only that; ValueError if none loads."""
    found = list_checkpoints(out_dir) if Path(out_dir).is_dir() else []
    found = found or list_exports(out_dir)
    errors = []
    for side in reversed(found):
        try:
            ckpt = _load_pair(side)
        except (ValueError, OSError, KeyError, TypeError) as err:
            errors.append(f"{side.name}: {err}")
            continue
        for error in errors:
            warnings.warn(
                f"checkpoint: skipping a damaged checkpoint ({error})", stacklevel=2
            )
        return ckpt
    if errors:
        raise ValueError(
            f"checkpoint: no intact checkpoint in {str(out_dir)!r}: {errors}"
        )
    return None


def load_checkpoint(path: PathLike) -> Checkpoint:
    """Read a checkpoint without executing anything from the file.

    path: a directory (its newest intact checkpoint, with a warning for any damaged newer
    one; a folder of exports: its newest export), a sidecar .json, a .safetensors file (with
    its sidecar if present), or a .pt/.pth/.bin state dict read with
    `torch.load(weights_only=True)`. Raises ValueError if it is missing, torn (digest
    mismatch), not a safetensors file, not plain tensors, or if its sidecar fails
    `check_sidecar` (checked before the tensor file is opened).
    """
    p = Path(path)
    if p.is_dir():
        ckpt = load_newest_intact(p)
        if ckpt is None:
            raise ValueError(
                f"checkpoint: no ckpt-*.json or model-*.json in directory {str(p)!r}"
            )
        return ckpt
    if not p.is_file():
        raise ValueError(f"checkpoint: no such file {str(p)!r}")
    if p.suffix == ".json":
        return _load_pair(p)
    if p.suffix == ".safetensors":
        side = p.with_suffix(".json")
        return (
            _load_pair(side)
            if side.is_file()
            else Checkpoint(p, {}, _read_safetensors(p.read_bytes(), p))
        )
    return Checkpoint(p, {}, _load_pickle_safely(p))


def _read_safetensors(blob: bytes, path: Path) -> dict[str, Tensor]:
    """The tensors of a safetensors file; ValueError (not SafetensorError) if not."""
    try:
        return st_load(blob)
    except SafetensorError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(
            f"checkpoint: {str(path)!r} is not a safetensors file ({first})"
        ) from None


def _weights_file(sidecar: Path, meta: dict) -> Path:
    """The sidecar's tensor file: a plain file name, a regular file in the same folder."""
    name = meta.get("weights")
    if not isinstance(name, str) or name != Path(name).name or name in ("", ".", ".."):
        raise ValueError(
            f"checkpoint: {sidecar.name}: 'weights' must be a file name in the same "
            f"folder, got {name!r}"
        )
    weights = sidecar.parent / name
    if weights.is_symlink() or not weights.is_file():
        raise ValueError(
            f"checkpoint: {sidecar.name}: {name!r} is not a regular file beside it"
        )
    return weights


def _load_pair(sidecar: Path) -> Checkpoint:
    try:
        meta = json.loads(sidecar.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"checkpoint: {str(sidecar)!r} is not JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"checkpoint: {str(sidecar)!r} is not a {FORMAT} sidecar")
    check_sidecar(meta, sidecar.name)  # before the tensor file is opened
    weights = _weights_file(sidecar, meta)
    blob = weights.read_bytes()
    if hashlib.sha256(blob).hexdigest() != meta["sha256"]:
        raise ValueError(
            f"checkpoint: {meta['weights']} does not match the digest in {sidecar.name}"
        )
    return Checkpoint(sidecar, meta, _read_safetensors(blob, weights))


def _load_pickle_safely(p: Path) -> dict[str, Tensor]:
    """A .pt state dict through torch's weights-only unpickler: tensors, containers, numbers only."""
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except (
        pickle.UnpicklingError,
        RuntimeError,
        AttributeError,
        TypeError,
        EOFError,
    ) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(
            f"checkpoint: refusing {str(p)!r}: not a plain weights file ({first})"
        ) from err
    if (
        isinstance(obj, dict)
        and "state_dict" in obj
        and isinstance(obj["state_dict"], dict)
    ):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(
        isinstance(v, Tensor) for v in obj.values()
    ):
        raise ValueError(f"checkpoint: {str(p)!r} must hold a dict of tensors")
    return {f"model.{k}": v for k, v in obj.items()}


def load_model(path: PathLike | Checkpoint, *, ema: bool = True) -> nn.Module:
    """The network of a checkpoint (a path or a loaded `Checkpoint`) in eval mode, with its
    EMA weights if saved and `ema`."""
    ckpt = path if isinstance(path, Checkpoint) else load_checkpoint(path)
    if "model" not in ckpt.meta:
        raise ValueError(
            f"checkpoint: {str(ckpt.path)!r} has no JSON sidecar describing the model"
        )
    model = model_from_spec(ckpt.meta["model"])
    state = ckpt.state("ema") if ema and ckpt.state("ema") else ckpt.state("model")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:  # missing, unexpected or wrongly shaped tensors
        lines = [ln.strip() for ln in str(err).splitlines()[1:] if ln.strip()]
        raise ValueError(
            f"checkpoint: {ckpt.path.name}: its tensors do not fit the "
            f"{ckpt.meta['model'].get('kind')} it describes "
            f"({lines[0][:200] if lines else err})"
        ) from None
    return model.eval()


COURSE_MODELS = Path(__file__).parent / "assets" / "models"


def export_model(checkpoint: PathLike, out_dir: PathLike, *, ema: bool = True) -> Path:
    """Write only the network of a checkpoint (its EMA weights if `ema`) as a new, small file.

    It is named model-<step>.safetensors / .json, so no training run mistakes it for one of
    its checkpoints (ckpt-*), and it replaces and deletes nothing: ValueError if either file
    exists. No optimizer state and no second copy of the weights: this is how the course's
    shipped models in `ddpm_lite/assets/models/` were made (see `course_model`). Returns the
    sidecar.
    """
    ckpt = load_checkpoint(checkpoint)
    model = load_model(ckpt, ema=ema)
    step = int(ckpt.meta.get("step", 0))
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {str(out)!r} is a file, not a folder")
    weights = out / f"model-{step:06d}.safetensors"
    sidecar = weights.with_suffix(".json")
    taken = [p.name for p in (weights, sidecar) if p.exists()]
    if taken:
        raise ValueError(
            f"export: {taken} already exist in {str(out)!r}; nothing was written "
            "(choose another out_dir, or move them away first)"
        )
    out.mkdir(parents=True, exist_ok=True)
    tensors = {
        f"model.{k}": v.detach().cpu().contiguous()
        for k, v in model.state_dict().items()
    }
    fields = {
        "config": ckpt.meta.get("config"),
        "exported_from": str(ckpt.path.name),
        "weights_kind": "ema" if ema and ckpt.state("ema") else "model",
    }
    return _write_pair(weights, tensors, step, model, fields)


def course_model(name: str) -> nn.Module:
    """A model shipped with the package, in eval mode: "digits", "digits_cond" or "ring".

    Each was trained on a 2-core CPU by the command recorded in its sidecar's config (and in
    `ddpm_lite/assets/models/README.md`), then reduced with `export_model`. Lessons 06-12.
    """
    names = (
        sorted(p.name for p in COURSE_MODELS.iterdir() if p.is_dir())
        if COURSE_MODELS.is_dir()
        else []
    )
    if name not in names:
        raise ValueError(f"name must be one of {names}, got {name!r}")
    return load_model(COURSE_MODELS / name)
