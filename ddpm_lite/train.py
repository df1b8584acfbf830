"""Training a denoiser with L_simple (Ho et al. 2020, Algorithm 1), resumable bit for bit.

    repeat:  x_0 ~ q(x_0);  t ~ Uniform{1..T};  eps ~ N(0, I)
             take a gradient step on || eps - eps_theta(sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps, t) ||^2

with the paper's recipe (Sec. 4 and Appendix B): Adam at 2e-4, batch 128, linear warm-up
over 5000 steps, gradient norm clipped at 1, an exponential moving average (EMA) of the
weights with decay 0.9999 used for sampling, dropout 0.1 on CIFAR10.

Every random draw of step k (which examples, t, eps, label dropout, flips, dropout masks)
is a function of (seed, k, rank) alone, so a run resumed from a checkpoint at step k sees
exactly the batches and noise of an uninterrupted run. Under `torchrun` each of the
WORLD_SIZE processes takes an interleaved shard of every global batch (DistributedDataParallel);
rank 0 logs and writes checkpoints. Lesson 06.
"""

from __future__ import annotations

import copy
import json
import math
import random
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from . import checkpoint as ckpt_io
from . import run_folder
from ._checks import check_int, check_real
from .datasets import augmentation, digits, load_dataset
from .losses import loss_simple
from .mlp import MLPDenoiser
from .samplers import sample_ddim
from .schedule import Schedule
from .toys import TOYS, toy_data
from .train_config import PRESETS, RESUME_FIXED, SCHEDULES, TrainConfig, check_config  # noqa: F401
from .unet import UNet


@dataclass(frozen=True, eq=False)
class TrainResult:
    """What `train` returns: the network, its EMA copy (use it to sample), losses of the steps run here."""

    model: nn.Module
    ema: nn.Module
    losses: list
    step: int
    checkpoint: Path | None = None


# ---------------------------------------------------------------------------- the pieces
def warmup_lr(step: int, *, lr: float, warmup: int) -> float:
    """Learning rate of update `step` (1, 2, ...): lr * min(1, step / warmup); lr if warmup = 0.

    Ho et al. 2020, Appendix B ("warmup 5000"); their code uses step - 1, so its first update is a no-op.
    step: an integer >= 1; lr: a finite number > 0; warmup: an integer >= 0.
    """
    check_int(step, "step", 1)
    check_real(lr, "lr", 0.0, open_low=True)
    check_int(warmup, "warmup", 0)
    return lr * min(1.0, step / warmup) if warmup > 0 else lr


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """theta_ema <- decay * theta_ema + (1 - decay) * theta, for every parameter; buffers copied.

    decay: a number in [0, 1] (0 copies the weights, 1 freezes the average).
    """
    check_real(decay, "decay", 0.0, 1.0)
    # One fused call per operation over all tensors (the arithmetic of e.mul_(decay)
    # .add_(p, alpha=1 - decay) per tensor, bit for bit, with far less overhead per step).
    averaged, current = list(ema.parameters()), [p.detach() for p in model.parameters()]
    torch._foreach_mul_(averaged, decay)
    torch._foreach_add_(averaged, current, alpha=1 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def step_seed(seed: int, step: int, rank: int, stream: int) -> int:
    """A 64-bit seed for one (run seed, step, rank, stream), well mixed by numpy's SeedSequence."""
    return int(
        np.random.SeedSequence([seed, step, rank, stream]).generate_state(1, np.uint64)[
            0
        ]
    )


@lru_cache(maxsize=4)
def _epoch_perm(seed: int, epoch: int, n: int) -> Tensor:
    return torch.randperm(
        n, generator=torch.Generator().manual_seed(step_seed(seed, epoch, 0, 2))
    )


def batch_indices(
    seed: int, step: int, *, n: int, batch: int, rank: int = 0, world_size: int = 1
) -> Tensor:
    """The examples update `step` (1, 2, ...) trains on, from (seed, step) alone.

    The data order is the endless sequence perm_0, perm_1, ... (perm_e a random permutation of
    0..n-1 seeded by (seed, e)); step k uses its positions (k-1)*batch .. k*batch - 1, and
    process `rank` of `world_size` takes every world_size-th of them. int64 (batch // world_size,).
    """
    start = (step - 1) * batch
    pos = torch.arange(start + rank, start + batch, world_size)
    epoch, offset = pos // n, pos % n
    out = torch.empty_like(pos)
    for e in epoch.unique().tolist():
        out[epoch == e] = _epoch_perm(seed, e, n)[offset[epoch == e]]
    return out


# ---------------------------------------------------------------------------- setup
def load_data(c: TrainConfig) -> tuple[Tensor, Tensor | None]:
    """(x, y) of `c.dataset`: x float32 in [-1, 1] on the CPU, y int64 labels (None for 2-D toys)."""
    if c.dataset in TOYS:
        return toy_data(
            c.dataset, c.n_toy, generator=torch.Generator().manual_seed(c.seed)
        ), None
    if c.dataset == "digits":
        return digits()
    return load_dataset(c.dataset, root=c.data_root, train=True, download=c.download)


def build_model(c: TrainConfig, x: Tensor, num_classes: int | None) -> nn.Module:
    """The network named by `c.model` for data like x, seeded with `c.seed` (identical on every rank)."""
    torch.manual_seed(c.seed)
    over = {
        k: tuple(v) if isinstance(v, list) else v for k, v in c.model_overrides.items()
    }
    if c.model == "mlp":
        return MLPDenoiser(**{"dim": x.shape[1], "num_classes": num_classes, **over})
    return UNet.from_preset(
        c.model,
        **{
            "dropout": c.dropout,
            "num_classes": num_classes,
            "in_channels": x.shape[1],
            "out_channels": x.shape[1],
            **over,
        },
    )


def _augmentation(c: TrainConfig) -> Callable | None:
    if not c.augment or c.dataset in TOYS:
        return None
    return augmentation(c.dataset)


def _as_data(data: Any) -> tuple[Tensor, Tensor | None]:
    """In-memory data for `train(data=...)`: a tensor x, or (x, y)."""
    x, y = data if isinstance(data, (tuple, list)) else (data, None)
    if (
        not isinstance(x, Tensor)
        or not x.is_floating_point()
        or x.ndim < 2
        or len(x) < 1
    ):
        raise ValueError(
            f"data must be a float tensor x of shape (N, ...) or a pair (x, y), got {type(x).__name__}"
        )
    if y is not None and (not isinstance(y, Tensor) or y.shape != (len(x),)):
        raise ValueError(f"data: labels y must be a tensor of shape ({len(x)},)")
    return x, y


@dataclass(frozen=True, eq=False)
class _Run:
    """One process's view of a run (frozen: the fields never change, the objects they hold do)."""

    c: TrainConfig
    rank: int
    world: int
    device: torch.device
    x: Tensor
    y: Tensor | None
    num_classes: int | None
    model: nn.Module  # the bare network (what checkpoints and the EMA see)
    net: nn.Module  # the same network, wrapped in DDP when world > 1
    ema: nn.Module
    opt: torch.optim.Optimizer
    s: Schedule
    aug: Callable | None


# ---------------------------------------------------------------------------- the loop
def train(
    config: TrainConfig,
    *,
    model: nn.Module | None = None,
    data: Any = None,
    callback: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train `config` (Ho et al. 2020, Algorithm 1) and return the model, its EMA copy and the losses.

    model: a network eps_theta(x_t, t[, y]) to train instead of building `config.model`.
    data: in-memory training data, a tensor x (N, ...) in [-1, 1] or a pair (x, y), instead of
    `config.dataset`. callback(step, loss) runs after every step. Under `torchrun` (WORLD_SIZE > 1)
    every process calls this; rank 0 writes checkpoints and grids. Ctrl-C (SIGINT) or SIGTERM
    finishes the current step, writes a checkpoint (if checkpoint_every > 0), then raises
    KeyboardInterrupt. The run owns `out_dir` while it runs (`ddpm_lite.run_folder`): a
    folder that holds another run's checkpoints needs `resume` or `overwrite`. A loss or a
    weight that is not finite stops the run (FloatingPointError) before it is saved.
    """
    from .distributed import setup, teardown

    rank, world, device = setup(config.device)
    lock = None
    try:
        lock = run_folder.claim(config) if rank == 0 else None
        return _train(_start(config, rank, world, device, model, data), callback)
    finally:
        run_folder.release(lock)
        teardown(world)


def _start(
    c: TrainConfig,
    rank: int,
    world: int,
    device: torch.device,
    model: nn.Module | None,
    data: Any,
) -> _Run:
    """Data, model, EMA copy, optimizer; restored from the newest checkpoint on resume.

    Python's `random` and NumPy's global generator are seeded from `c.seed` here
    (torch's is seeded by `build_model` and at every step), so two runs with one seed
    save the same RNG states in their checkpoints.
    """
    from .distributed import wrap

    random.seed(c.seed)
    np.random.seed(c.seed % 2**32)  # numpy takes seeds below 2**32

    if c.batch_size % world:
        raise ValueError(
            f"batch_size must be divisible by the number of processes {world}, got {c.batch_size}"
        )
    x, y = _as_data(data) if data is not None else load_data(c)
    y = y if c.class_conditional else None
    if c.class_conditional and y is None:
        raise ValueError("class_conditional needs labels: pass data=(x, y)")
    num_classes = int(y.max()) + 1 if y is not None else None
    model = (model if model is not None else build_model(c, x, num_classes)).to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    # foreach: Adam's update as one call per operation over all tensors. It is torch's
    # default on CUDA only; on the CPU it gives the same weights, bit for bit, faster.
    opt = torch.optim.Adam(model.parameters(), lr=c.lr, foreach=True)
    if rank == 0:
        run_folder.require_space(c, model, ema, opt)
    return _Run(
        c,
        rank,
        world,
        device,
        x,
        y,
        num_classes,
        model,
        wrap(model, device, world),
        ema,
        opt,
        SCHEDULES[c.schedule](c.T),
        _augmentation(c),
    )


def _train(r: _Run, callback: Callable[[int, float], None] | None) -> TrainResult:
    from tqdm.auto import tqdm

    from .distributed import check_in_sync, deferred_interrupt, should_stop

    c, losses, last = r.c, [], None
    start = _resume(r) if c.resume else 0
    bar = tqdm(
        range(start + 1, c.steps + 1),
        initial=start,
        total=c.steps,
        disable=not c.progress or r.rank != 0,
    )
    with deferred_interrupt() as stop:
        for step in bar:
            losses.append(_train_step(r, step))
            if not math.isfinite(losses[-1]):
                bar.close()
                raise FloatingPointError(
                    f"train: the loss is {losses[-1]} at step {step}; stopped before "
                    f"saving it (last checkpoint: {last}). Check the data for NaN and "
                    f"lower lr (now {c.lr})"
                )
            bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
            if r.rank == 0 and c.sample_every and step % c.sample_every == 0:
                _save_samples(r, step)
            if c.checkpoint_every and (
                step % c.checkpoint_every == 0 or step == c.steps
            ):
                last = _checkpoint(r, step)
            if callback is not None:
                callback(step, losses[-1])
            if should_stop(stop, r.world, r.device):
                last = _checkpoint(r, step) if c.checkpoint_every else None
                bar.close()
                raise KeyboardInterrupt(
                    f"stopped after step {step}; checkpoint: {last}"
                )
    bar.close()
    check_in_sync(r.model, r.ema, r.world, r.rank, c.out_dir)
    return TrainResult(r.model, r.ema, losses, max(start, c.steps), last)


def _seed_dropout(seed: int, device: torch.device) -> None:
    """Seed the generator that draws dropout masks on `device`: torch.manual_seed, except on
    the CPU, where that call also records a stack trace for a deferred seeding of CUDA
    devices that may not exist (about a millisecond per step)."""
    if device.type == "cpu":
        torch.default_generator.manual_seed(seed)
    else:
        torch.manual_seed(seed)


def _train_step(r: _Run, step: int) -> float:
    """One update: Algorithm 1, lines 2-5, then warm-up, clipping, Adam and the EMA."""
    c = r.c
    g = torch.Generator().manual_seed(
        step_seed(c.seed, step, r.rank, 0)
    )  # t, eps, labels, flips
    _seed_dropout(step_seed(c.seed, step, r.rank, 1), r.device)
    idx = batch_indices(
        c.seed, step, n=len(r.x), batch=c.batch_size, rank=r.rank, world_size=r.world
    )
    x_0 = r.x[idx].to(r.device)  # line 2: x_0 ~ q(x_0)
    if r.aug is not None:
        x_0 = r.aug(x_0, generator=g)
    eps_theta = r.net
    if r.y is not None:  # null label num_classes
        y = torch.where(
            torch.rand(len(idx), generator=g) < c.p_uncond, r.num_classes, r.y[idx]
        ).to(r.device)
        eps_theta = lambda x_t, t: r.net(x_t, t, y)  # noqa: E731
    for group in r.opt.param_groups:
        group["lr"] = warmup_lr(step, lr=c.lr, warmup=c.warmup)
    with (
        torch.autocast(r.device.type, dtype=torch.bfloat16) if c.bf16 else nullcontext()
    ):
        loss = loss_simple(eps_theta, r.s, x_0, generator=g)  # lines 3-5 (Eq. 14)
    r.opt.zero_grad(set_to_none=True)
    loss.backward()
    if c.grad_clip > 0:
        nn.utils.clip_grad_norm_(r.model.parameters(), c.grad_clip)
    r.opt.step()
    ema_update(r.ema, r.model, c.ema_decay)
    return loss.item()


def _jsonable(c: TrainConfig) -> dict:
    return json.loads(json.dumps(asdict(c)))


def _checkpoint(r: _Run, step: int) -> Path | None:
    """Rank 0 writes the checkpoint of `step`; every rank waits for it. Weights that are
    not finite are never written: FloatingPointError instead."""
    path = None
    if r.rank == 0:
        for name, net in (("model", r.model), ("ema", r.ema)):
            bad = [n for n, p in net.named_parameters() if not p.isfinite().all()]
            if bad:
                raise FloatingPointError(
                    f"train: {name} weights are not finite at step {step} ({bad[0]} "
                    f"and {len(bad) - 1} more); no checkpoint of them was written"
                )
        data = {
            "seed": r.c.seed,
            "step": step,
            "batch_size": r.c.batch_size,
            "world_size": r.world,
            "order": "batch_indices(seed, step)",
        }
        path = ckpt_io.save_checkpoint(
            r.c.out_dir,
            step=step,
            model=r.model,
            ema=r.ema,
            optimizer=r.opt,
            config=_jsonable(r.c),
            extra={"data": data},
            keep=r.c.keep,
        )
    if r.world > 1:
        torch.distributed.barrier()
    return path


def _resume(r: _Run) -> int:
    """Load the newest checkpoint of out_dir into model, EMA, optimizer and RNGs; return its step (0 if none)."""
    ck = ckpt_io.load_newest_intact(r.c.out_dir)
    if ck is None:
        return 0
    path = ck.path
    if "optimizer" not in ck.meta or not ck.state("ema"):
        raise ValueError(
            f"resume: {path.name} is an exported network, not a training checkpoint"
        )
    saved, now = ck.meta.get("config") or {}, _jsonable(r.c)
    changed = [k for k in RESUME_FIXED if saved.get(k) != now[k]]
    if changed:
        raise ValueError(
            f"resume: {changed} differ from the checkpoint {path.name} "
            f"({ {k: saved.get(k) for k in changed} }); they fix the model or the data order"
        )
    r.model.load_state_dict(ck.state("model"))
    r.ema.load_state_dict(ck.state("ema"))
    ckpt_io.load_optimizer_state(r.opt, ck)
    ckpt_io.restore_rng(ck)
    return int(ck.meta["step"])


def _save_samples(r: _Run, step: int) -> None:
    """A grid of EMA samples (DDIM, `sample_steps` steps, fixed noise) as samples/step_<step>.png."""
    from .grids import save_png

    g = torch.Generator().manual_seed(r.c.seed)
    x_T = torch.randn((r.c.n_samples, *r.x.shape[1:]), generator=g).to(r.device)
    eps_theta = r.ema
    if r.num_classes is not None:
        labels = (torch.arange(r.c.n_samples) % r.num_classes).to(r.device)
        eps_theta = lambda x_t, t: r.ema(x_t, t, labels)  # noqa: E731
    x_0 = sample_ddim(
        eps_theta,
        r.s,
        x_T,
        steps=min(r.c.sample_steps, r.s.T),
        generator=g,
        progress=False,
    )
    save_png(x_0.float().cpu(), Path(r.c.out_dir) / "samples" / f"step_{step:06d}.png")
