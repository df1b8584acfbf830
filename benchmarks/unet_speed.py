"""Forward + backward time of ddpm_lite's cifar10 U-Net vs diffusers' UNet2DModel
(google/ddpm-cifar10-32 config, random weights, no download), same inputs, float32 on CPU.

    python benchmarks/unet_speed.py [--batch 8 --iters 5 --warmup 1 --threads N] [--ablation]

--ablation also times our network with each of its speed-ups undone, one at a time, by
putting back the plain torch computation of the same function (same parameters), in the same
interleaved run: which speed-up buys what.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ddpm_lite import UNet
from ddpm_lite.unet import Dropout, Upsample

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _nets import DDPM_CIFAR10_32  # noqa: E402

DROPOUT = 0.1  # the paper's CIFAR10 training setting, set on both models (config.json omits it: 0.0)

# name -> (class, its plain forward): the textbook computation each speed-up replaces.
PLAIN = {
    "nearest x2, conv3x3 (not one transposed conv)": (
        Upsample,
        lambda self, x, emb=None: self.conv(
            F.interpolate(x, scale_factor=2.0, mode="nearest")
        ),
    ),
    "torch's F.dropout (not uniform draws)": (
        Dropout,
        lambda self, x: F.dropout(x, self.p, self.training),
    ),
}


@contextlib.contextmanager
def plain(cls, forward):
    """Temporarily give `cls` its plain forward."""
    fast = cls.forward
    cls.forward = forward
    try:
        yield
    finally:
        cls.forward = fast


def fwd_bwd_seconds(fn, params, context=contextlib.nullcontext) -> float:
    """Seconds of one forward + backward."""
    for p in params:
        p.grad = None
    with context():
        start = time.perf_counter()
        fn().square().mean().backward()
        return time.perf_counter() - start


def multiply_adds(fn) -> float:
    """Multiply-adds of one forward + backward, counted by torch's FlopCounterMode. Attention runs
    through torch's math kernel here, which the counter sees the same way in both networks."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        fn().square().mean().backward()
    return counter.get_total_flops() / 2  # the counter counts a multiply-add as 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument(
        "--threads", type=int, default=0, help="torch threads (0: torch's default)"
    )
    ap.add_argument(
        "--ablation", action="store_true", help="also time each speed-up undone"
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    ours = UNet.from_preset("cifar10", dropout=DROPOUT).train()
    theirs = UNet2DModel(**DDPM_CIFAR10_32, dropout=DROPOUT).train()
    x = torch.randn(args.batch, 3, 32, 32)
    t = torch.randint(1, 1001, (args.batch,))
    ours_run = (lambda: ours(x, t), list(ours.parameters()))
    runs = {
        "ours": ours_run + (contextlib.nullcontext,),
        "diffusers": (
            lambda: theirs(x, t - 1).sample,
            list(theirs.parameters()),
            contextlib.nullcontext,
        ),
    }
    if args.ablation:
        for name, (cls, forward) in PLAIN.items():
            runs[name] = ours_run + (
                lambda cls=cls, forward=forward: plain(cls, forward),
            )
    times = {name: [] for name in runs}
    for i in range(
        args.warmup + args.iters
    ):  # alternate, so drifts in machine load hit all alike
        for name, (fn, params, context) in runs.items():
            seconds = fwd_bwd_seconds(fn, params, context)
            if i >= args.warmup:
                times[name].append(seconds)
    median = {name: statistics.median(ts) for name, ts in times.items()}
    t_ours, t_theirs = median["ours"], median["diffusers"]
    print(
        f"forward + backward, float32 CPU, {torch.get_num_threads()} threads, batch {args.batch}, dropout {DROPOUT}"
    )
    print(f"{args.iters} timed iterations, interleaved; medians")
    print(f"ddpm_lite UNet   : {t_ours * 1e3:8.1f} ms")
    print(f"diffusers UNet2D : {t_theirs * 1e3:8.1f} ms")
    print(f"ratio ours / diffusers: {t_ours / t_theirs:.3f}")
    print(f"  within each iteration: {spread(times['ours'], times['diffusers'])}")
    work = {name: multiply_adds(runs[name][0]) for name in ("ours", "diffusers")}
    print(
        f"multiply-adds per forward + backward: ours {work['ours'] / 1e9:.1f} G, "
        f"diffusers {work['diffusers'] / 1e9:.1f} G, ratio {work['ours'] / work['diffusers']:.3f}"
    )
    print(
        f"  done at: ours {work['ours'] / t_ours / 1e9:.1f} G/s, "
        f"diffusers {work['diffusers'] / t_theirs / 1e9:.1f} G/s"
    )
    if args.ablation:
        print(
            "\nablation: ours with one speed-up undone; its time over ours, within each iteration"
        )
        for name in PLAIN:
            print(
                f"  {name:46s} {median[name] * 1e3:7.1f} ms  {spread(times[name], times['ours'])}"
            )


def spread(a: list[float], b: list[float]) -> str:
    """Median and quartiles of the paired ratios a_i / b_i (iteration i ran a and b back to back)."""
    q1, q2, q3 = statistics.quantiles([x / y for x, y in zip(a, b)], n=4)
    return f"{q2:.3f} (quartiles {q1:.3f}-{q3:.3f})"


if __name__ == "__main__":
    main()
