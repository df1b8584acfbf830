"""Wall time to train the digits8 U-Net (preset "digits") until it meets the course's quality bar.

    python benchmarks/train_digits.py [--max-steps 1500 --eval-every 250 --threads 2 --out-dir runs/bench_digits]

The run trains in chunks of --eval-every steps (each chunk resumes the previous checkpoint, so the
run is the same as one uninterrupted run: the preset's learning rate is constant after warm-up and
the data order depends only on the step). After each chunk the EMA weights are scored with
`ddpm_lite.metrics.digits_quality`, the bar the shipped model is held to in
tests/test_course_models.py: Fréchet distance of 300 samples (50 respaced DDPM steps) below 2.5x the
real-vs-real floor, every class present. Reported: the training time (evaluation excluded, reported
separately) to the first chunk that meets the bar. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time

import torch

from ddpm_lite.metrics import digits_quality
from ddpm_lite.train import TrainConfig, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--max-steps", type=int, default=TrainConfig.from_preset("digits").steps
    )
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out-dir", default="runs/bench_digits")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    shutil.rmtree(args.out_dir, ignore_errors=True)  # a fresh run every time
    train_s, eval_s, history, reached = 0.0, 0.0, [], None
    for steps in range(args.eval_every, args.max_steps + 1, args.eval_every):
        c = TrainConfig.from_preset(
            "digits",
            steps=steps,
            out_dir=args.out_dir,
            sample_every=0,
            checkpoint_every=args.eval_every,
            keep=1,
            resume=steps > args.eval_every,
            device="cpu",
            progress=False,
        )
        start = time.perf_counter()
        result = train(c)
        train_s += time.perf_counter() - start
        start = time.perf_counter()
        q = digits_quality(result.ema.eval())
        eval_s += time.perf_counter() - start
        passed = q["fd"] < q["bar"] and q["min_class"] >= 0.04
        history.append(
            {
                "steps": steps,
                "train_seconds": round(train_s, 1),
                "fd": round(q["fd"], 1),
                "bar": round(q["bar"], 1),
                "passed": passed,
            }
        )
        if passed:
            reached = history[-1]
            break
    report = {
        "preset": "digits",
        "threads": torch.get_num_threads(),
        "eval_every": args.eval_every,
        "reached_bar": reached,
        "eval_seconds": round(eval_s, 1),
        "history": history,
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
