"""A training run's folder belongs to one run: claimed with a lock, checked before step 1.

`claim(config)` runs before any data is loaded or any step is taken, on the process that
writes checkpoints (rank 0), whenever the run will write into `out_dir`:

- a lock file `out_dir/.lock` (pid, host, start time) stops a second run from writing the
  same folder; a lock whose process is gone (same host, pid not alive) is stale and taken over;
- a fresh run refuses a folder that already holds checkpoints, unless `resume=True`
  (continue them) or `overwrite=True` (the user asks for them to be deleted);
- the folder must be writable, with room for two checkpoints (`require_space`);
- debris of crashed writes (temp files, a tensor file whose sidecar never came) is removed.

`release` drops the lock at the end of the run. Lesson 06.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
import warnings
from pathlib import Path

from . import checkpoint as ckpt_io

LOCK = ".lock"
_TMP = re.compile(r"^\..+\.tmp$")  # checkpoint.atomic_write_bytes's temp files
_WEIGHTS = re.compile(r"^ckpt-(\d+)\.safetensors$")


class FolderInUse(RuntimeError):
    """Another live run holds the folder's lock."""


def writes_folder(c) -> bool:
    """Whether a run with config `c` writes anything into `c.out_dir`."""
    return c.checkpoint_every > 0 or c.sample_every > 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def _take_lock(out: Path) -> Path:
    lock = out / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = json.loads(lock.read_text())
                pid, host = int(owner["pid"]), str(owner["host"])
            except (OSError, ValueError, KeyError, TypeError):
                owner, pid, host = None, -1, ""
            if owner is not None and (host != me["host"] or _alive(pid)):
                raise FolderInUse(
                    f"out_dir {str(out)!r} is in use by another run (pid {pid} on "
                    f"{host}, lock {str(lock)!r}); wait for it, or choose another "
                    "out_dir. If that run is gone, delete the lock file."
                ) from None
            warnings.warn(
                f"out_dir {str(out)!r}: taking over a stale lock "
                f"({'unreadable' if owner is None else f'pid {pid} is gone'})",
                stacklevel=3,
            )
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return lock
    raise RuntimeError(f"out_dir {str(out)!r}: could not take the lock {str(lock)!r}")


def _clean_debris(out: Path) -> None:
    """Remove what crashed writes left: temp files, tensor files without their sidecar."""
    committed = {
        p.with_suffix(".safetensors").name for p in ckpt_io.list_checkpoints(out)
    }
    debris = [
        p
        for p in out.iterdir()
        if p.is_file()
        and (_TMP.match(p.name) or (_WEIGHTS.match(p.name) and p.name not in committed))
    ]
    for p in debris:
        p.unlink(missing_ok=True)
    if debris:
        warnings.warn(
            f"out_dir {str(out)!r}: removed {len(debris)} file(s) left by an "
            f"interrupted checkpoint write: {sorted(p.name for p in debris)}",
            stacklevel=3,
        )


def claim(c) -> Path | None:
    """Check and lock `c.out_dir` for a run of config `c`; return the lock (None if the run
    writes nothing there). Raises ValueError for a folder the run must not use."""
    if not writes_folder(c):
        return None
    out = Path(c.out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {str(out)!r} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ValueError(
            f"out_dir {str(out)!r} is not writable ({err.strerror or err})"
        ) from None
    lock = _take_lock(out)
    try:
        _clean_debris(out)
        old = ckpt_io.list_checkpoints(out)
        if old and not c.resume:
            if not c.overwrite:
                raise ValueError(
                    f"out_dir {str(out)!r} already holds {len(old)} checkpoint(s) of a "
                    f"run (newest {old[-1].name}): pass resume=True (--resume) to "
                    "continue it, overwrite=True (--overwrite) to delete them, or "
                    "choose another out_dir"
                )
            for side in old:
                side.unlink(missing_ok=True)
                side.with_suffix(".safetensors").unlink(missing_ok=True)
    except BaseException:
        lock.unlink(missing_ok=True)
        raise
    return lock


def require_space(c, model, ema=None, optimizer=None) -> None:
    """ValueError unless `c.out_dir` has room for two checkpoints of these objects (a
    checkpoint is written beside the newest before the older one is pruned)."""
    if c.checkpoint_every == 0:
        return
    state = sum(int(t.nbytes) for t in model.state_dict().values())
    params = sum(int(p.nbytes) for p in model.parameters())
    one = state * (2 if ema is not None and ema is not model else 1)
    one += 2 * params if optimizer is not None else 0  # Adam's two moments
    need = 2 * one
    free = shutil.disk_usage(c.out_dir).free
    if free < need:
        raise ValueError(
            f"out_dir {str(c.out_dir)!r} has {free / 2**20:.0f} MiB free; checkpoints of "
            f"this run need about {need / 2**20:.0f} MiB (two of them)"
        )


def release(lock: Path | None) -> None:
    if lock is not None:
        lock.unlink(missing_ok=True)
