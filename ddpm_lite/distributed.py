"""Several processes, one model: what `train` needs from torch.distributed, and Ctrl-C handling.

`torchrun --nproc_per_node=N -m ddpm_lite train ...` starts N copies with RANK, LOCAL_RANK
and WORLD_SIZE set. Each joins a process group (NCCL on CUDA, gloo on CPU), wraps the
network in DistributedDataParallel (gradients averaged over the ranks at every step, so N
processes with batch B / N each take the step of one process with batch B), and rank 0
alone writes files. With WORLD_SIZE unset or 1 nothing here touches torch.distributed.

If the launcher dies (killed, its terminal closed), each worker notices that its parent
process changed (`watch_parent`) and stops as after Ctrl-C: it finishes the step, rank 0
saves a checkpoint, and all exit.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from .device import pick_device


def setup(device: str = "auto") -> tuple[int, int, torch.device]:
    """(rank, world_size, device) of this process; joins the process group when WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, pick_device(None if device == "auto" else device)
    import torch.distributed as dist

    use_cuda = torch.cuda.is_available() and device.split(":")[0] in ("auto", "cuda")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device("cuda", local) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    watch_parent()
    return dist.get_rank(), dist.get_world_size(), dev


def watch_parent(*, poll: float = 0.5, grace: float = 120.0) -> threading.Thread | None:
    """Stop this process when its parent (the `torchrun` launcher) dies.

    A daemon thread compares os.getppid() with the parent at the start every `poll`
    seconds. When it changes, it sends this process SIGTERM: inside `deferred_interrupt`
    the run stops at the next step boundary (rank 0 saves a checkpoint first), anywhere
    else Python's default SIGTERM action ends the process. If the process is still
    alive `grace` seconds later (e.g. blocked in a collective whose peer is gone), it
    exits with status 143. Returns the thread; None if the parent is already init (pid
    1: nothing to watch) or on Windows.
    """
    parent = os.getppid()
    if parent <= 1 or not hasattr(signal, "SIGTERM") or os.name == "nt":
        return None

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace)
        os._exit(128 + signal.SIGTERM)

    thread = threading.Thread(target=watch, name="ddpm_lite-watch-parent", daemon=True)
    thread.start()
    return thread


def teardown(world: int) -> None:
    """Leave the process group that `setup` joined."""
    if world > 1 and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def wrap(model: nn.Module, device: torch.device, world: int) -> nn.Module:
    """The model in DistributedDataParallel (rank 0's weights broadcast to all), or as is."""
    if world <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )


@contextmanager
def deferred_interrupt() -> Iterator[dict]:
    """While active, a first SIGINT / SIGTERM only sets flag["hit"]: the loop finishes its step,
    saves and stops. A second SIGINT interrupts at once. Outside the main thread this does nothing."""
    flag = {"hit": False}

    def handler(signum, frame):
        if flag["hit"] and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag["hit"] = True

    try:
        old = {
            sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)
        }
    except ValueError:  # not the main thread
        yield flag
        return
    try:
        yield flag
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def should_stop(flag: dict, world: int, device: torch.device) -> bool:
    """True if any rank was interrupted (all ranks agree, so they stop at the same step)."""
    if world <= 1:
        return flag["hit"]
    hit = torch.tensor([float(flag["hit"])], device=device)
    torch.distributed.all_reduce(hit, op=torch.distributed.ReduceOp.MAX)
    return bool(hit.item())


def state_digest(*modules: nn.Module) -> str:
    """sha256 over the bytes of every tensor of the modules' state dicts, in order."""
    h = hashlib.sha256()
    for m in modules:
        for k, v in m.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check_in_sync(
    model: nn.Module, ema: nn.Module, world: int, rank: int, out_dir: str
) -> None:
    """With several ranks: write out_dir/rank<r>.sha256 of (model, EMA) and raise if the ranks differ."""
    if world <= 1:
        return
    digest = state_digest(model, ema)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / f"rank{rank}.sha256").write_text(digest + "\n")
    every = [None] * world
    torch.distributed.all_gather_object(every, digest)
    if len(set(every)) > 1:
        raise RuntimeError(f"ranks ended with different weights: {every}")
