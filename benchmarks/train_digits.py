"""Train the digits8 U-Net on sklearn's 1,797 8x8 digits with the course's small setting and
report wall time, the loss and the digits Fréchet distance of EMA samples.

    python benchmarks/train_digits.py [--steps 3000 --threads 2 --fd-samples 500 --out-dir runs/bench_digits]

Goal (issue): under 3 minutes on a 2-core CPU to reach a sample quality bar, measured with
`ddpm_lite.metrics.digits_fd` at n samples beside `real_vs_real_floor(n)`.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from ddpm_lite.samplers import sample_ddim
from ddpm_lite.train import TrainConfig, train
from ddpm_lite.train_config import SCHEDULES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=TrainConfig.from_preset("digits").steps)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fd-samples", type=int, default=500)
    ap.add_argument("--out-dir", default="runs/bench_digits")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    c = TrainConfig.from_preset("digits", steps=args.steps, out_dir=args.out_dir, sample_every=0,
                                checkpoint_every=0, device="cpu")
    start = time.perf_counter()
    result = train(c)
    train_s = time.perf_counter() - start
    report = {"steps": c.steps, "train_seconds": round(train_s, 1), "threads": args.threads,
              "loss_last_100": sum(result.losses[-100:]) / len(result.losses[-100:])}
    try:
        from ddpm_lite.metrics import digits_fd, real_vs_real_floor
    except ImportError:
        report["digits_fd"] = "pending: ddpm_lite.metrics is not available"
    else:
        g = torch.Generator().manual_seed(0)
        x_T = torch.randn((args.fd_samples, 1, 8, 8), generator=g)
        s = SCHEDULES[c.schedule](c.T)
        samples = sample_ddim(result.ema, s, x_T, steps=c.sample_steps, generator=g, progress=False)
        report.update(digits_fd=round(digits_fd(samples), 2), fd_samples=args.fd_samples,
                      real_vs_real_floor=round(real_vs_real_floor(args.fd_samples, generator=g), 2))
    report["total_seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
