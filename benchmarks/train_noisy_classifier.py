"""Train the noise-aware digits classifier of lesson 12 and ship its weights.

    .venv/bin/python benchmarks/train_noisy_classifier.py

Trains `NoisyDigitsClassifier` with `train_noisy_classifier` (linear schedule, T = 1000) on
the training part of `ddpm_lite.metrics.digits_split()` (1437 images), with a fixed seed on
one CPU thread (about a minute), measures the accuracy on the 360 held-out images noised
at several t (one fixed noise draw per image and t), and writes
`ddpm_lite/assets/noisy_digits_classifier.safetensors` and `noisy_digits_classifier.json`
(config, training settings, accuracies, SHA-256 of the weights, this command, date, torch
version). Re-running may give different bits on another machine or torch version; the test
suite notices through the recorded SHA-256, so commit the weights and the JSON together.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time

import torch
from safetensors.torch import save_file

from ddpm_lite.datasets import digits
from ddpm_lite.metrics import digits_split
from ddpm_lite.noisy_classifier import (
    NOISY_CLASSIFIER_INFO,
    NOISY_CLASSIFIER_WEIGHTS,
    accuracy_vs_t,
    train_noisy_classifier,
)
from ddpm_lite.schedule import linear_schedule

SEED, STEPS, BATCH, LR, WIDTH = 0, 4000, 128, 2e-3, 32
TS = [0, 50, 100, 200, 300, 400, 500, 700, 1000]


def main() -> None:
    torch.set_num_threads(1)
    s = linear_schedule()
    start = time.time()
    model = train_noisy_classifier(
        s, steps=STEPS, batch_size=BATCH, lr=LR, seed=SEED, width=WIDTH
    )
    seconds = time.time() - start
    x, y = digits()
    test_idx = digits_split()[1]
    acc = accuracy_vs_t(
        model,
        s,
        x[test_idx],
        y[test_idx],
        TS,
        generator=torch.Generator().manual_seed(1),
    )
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(NOISY_CLASSIFIER_WEIGHTS))
    blob = NOISY_CLASSIFIER_WEIGHTS.read_bytes()
    info = dict(
        config=dict(width=WIDTH, time_dim=model.time_dim, T=s.T),
        schedule="linear_schedule()",
        seed=SEED,
        steps=STEPS,
        batch_size=BATCH,
        lr=LR,
        split="ddpm_lite.metrics.digits_split(): randperm(1797, seed 0), last 360 held out",
        test_accuracy_at_t={str(t): round(a, 4) for t, a in zip(TS, acc)},
        accuracy_noise="accuracy_vs_t(..., generator=torch.Generator().manual_seed(1))",
        train_seconds=round(seconds, 1),
        sha256=hashlib.sha256(blob).hexdigest(),
        bytes=len(blob),
        command=".venv/bin/python benchmarks/train_noisy_classifier.py",
        date=datetime.date.today().isoformat(),
        torch=torch.__version__,
    )
    NOISY_CLASSIFIER_INFO.write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
