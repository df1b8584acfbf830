"""Train the digits classifier behind `ddpm_lite.metrics.digits_fd` and ship its weights.

    .venv/bin/python benchmarks/train_digits_classifier.py

Trains `DigitsClassifier` on the training part of `digits_split()` (1437 images) with a fixed
seed on one CPU thread, measures accuracy on the 360 held-out images, and writes
`ddpm_lite/assets/digits_classifier.safetensors` and `digits_classifier.json` (config,
accuracy, SHA-256 of the weights, this command, date, torch version). Takes a few seconds.
Re-running may give different bits on another machine or torch version; the test suite
notices through the recorded SHA-256, so commit the weights and the JSON together.
"""

from __future__ import annotations

import datetime
import hashlib
import json

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from ddpm_lite.datasets import digits
from ddpm_lite.metrics import (
    CLASSIFIER_INFO,
    CLASSIFIER_WEIGHTS,
    DigitsClassifier,
    digits_split,
)

SEED, EPOCHS, BATCH, LR = 0, 40, 64, 2e-3
CONFIG = dict(width=32, feature_dim=64)


def shift(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Translate each image by -1, 0 or 1 pixel in each direction (zero = background -1)."""
    padded = F.pad(x, (1, 1, 1, 1), value=-1.0)  # (B, 1, 10, 10)
    dy, dx = torch.randint(0, 3, (2, len(x)), generator=g)
    return torch.stack(
        [
            p[:, i : i + 8, j : j + 8]
            for p, i, j in zip(padded, dy.tolist(), dx.tolist())
        ]
    )


def train() -> tuple[DigitsClassifier, int]:
    """Adam with a cosine learning rate, random 1-pixel shifts; returns (model, held-out correct)."""
    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED)
    x, y = digits()
    train_idx, test_idx = digits_split()
    model = DigitsClassifier(**CONFIG)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    steps = EPOCHS * -(-len(train_idx) // BATCH)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(EPOCHS):
        for batch in train_idx[torch.randperm(len(train_idx), generator=g)].split(
            BATCH
        ):
            loss = F.cross_entropy(model(shift(x[batch], g)), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        correct = int((model(x[test_idx]).argmax(1) == y[test_idx]).sum())
    return model, correct


def main() -> None:
    torch.set_num_threads(1)
    model, correct = train()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    CLASSIFIER_WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(CLASSIFIER_WEIGHTS))
    blob = CLASSIFIER_WEIGHTS.read_bytes()
    n_test = len(digits_split()[1])
    info = dict(
        config=CONFIG,
        seed=SEED,
        epochs=EPOCHS,
        batch_size=BATCH,
        lr=LR,
        split="ddpm_lite.metrics.digits_split(): randperm(1797, seed 0), last 360 held out",
        n_test=n_test,
        n_correct=correct,
        test_accuracy=round(correct / n_test, 4),
        sha256=hashlib.sha256(blob).hexdigest(),
        bytes=len(blob),
        command=".venv/bin/python benchmarks/train_digits_classifier.py",
        date=datetime.date.today().isoformat(),
        torch=torch.__version__,
    )
    CLASSIFIER_INFO.write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
