"""Forward + backward time of ddpm_lite's cifar10 U-Net vs diffusers' UNet2DModel
(google/ddpm-cifar10-32 config, random weights, no download), same inputs, float32 on CPU.

    python benchmarks/unet_speed.py [--batch 8 --iters 5 --warmup 1 --threads N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from ddpm_lite import UNet

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _nets import DDPM_CIFAR10_32  # noqa: E402

DROPOUT = 0.1  # the paper's CIFAR10 training setting, set on both models (config.json omits it: 0.0)


def fwd_bwd_seconds(fn, params) -> float:
    """Seconds of one forward + backward."""
    for p in params:
        p.grad = None
    start = time.perf_counter()
    fn().square().mean().backward()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    ours = UNet.from_preset("cifar10", dropout=DROPOUT).train()
    theirs = UNet2DModel(**DDPM_CIFAR10_32, dropout=DROPOUT).train()
    x = torch.randn(args.batch, 3, 32, 32)
    t = torch.randint(1, 1001, (args.batch,))
    runs = {"ours": (lambda: ours(x, t), list(ours.parameters())),
            "diffusers": (lambda: theirs(x, t - 1).sample, list(theirs.parameters()))}
    times = {name: [] for name in runs}
    for i in range(args.warmup + args.iters):   # alternate, so drifts in machine load hit both alike
        for name, (fn, params) in runs.items():
            seconds = fwd_bwd_seconds(fn, params)
            if i >= args.warmup:
                times[name].append(seconds)
    t_ours, t_theirs = statistics.median(times["ours"]), statistics.median(times["diffusers"])
    print(f"batch {args.batch}, dropout {DROPOUT}, {args.iters} timed iterations (median, interleaved), "
          f"{torch.get_num_threads()} threads, float32 CPU, forward + backward")
    print(f"ddpm_lite UNet   : {t_ours * 1e3:8.1f} ms")
    print(f"diffusers UNet2D : {t_theirs * 1e3:8.1f} ms")
    print(f"ratio ours / diffusers: {t_ours / t_theirs:.3f}")


if __name__ == "__main__":
    main()
