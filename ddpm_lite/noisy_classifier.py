"""A noise-aware digit classifier p(y | x_t, t), the guide of classifier guidance.

Classifier guidance needs grad_x log p(y | x_t) at every step of sampling, where x_t is a
*noisy* image (Dhariwal & Nichol 2021, Sec. 4). A classifier trained on clean digits has
never seen noise and is confidently wrong on x_t, so this one is trained on
x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps with t drawn uniformly from 1..T, and
told t through the same sinusoidal embedding as the U-Net. Its weights ship in
`ddpm_lite/assets/noisy_digits_classifier.safetensors`, with a JSON recording the training
settings, the held-out accuracy at several t, the SHA-256 of the weights and the command:

    python benchmarks/train_noisy_classifier.py

Derived and used in lesson 12.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_positive_int, check_timesteps
from .datasets import digits
from .diffusion import q_sample
from .schedule import Schedule
from .unet import timestep_embedding

ASSETS = Path(__file__).resolve().parent / "assets"
NOISY_CLASSIFIER_WEIGHTS = ASSETS / "noisy_digits_classifier.safetensors"
NOISY_CLASSIFIER_INFO = ASSETS / "noisy_digits_classifier.json"


class NoisyDigitsClassifier(nn.Module):
    """logits of p(y | x_t, t) for the 8x8 digits: (B, 1, 8, 8), t (B,) in 1..T -> (B, 10).

    Three 3x3 convolutions (8x8, 8x8, 4x4) with SiLU, each followed by a per-channel shift
    computed from the embedding of t - 1 (as in `UNet`), then a small MLP head. SiLU rather
    than ReLU keeps grad_x log p(y | x_t) smooth, which is what guidance uses.
    """

    def __init__(self, width: int = 32, time_dim: int = 32, T: int = 1000):
        super().__init__()
        for name, value in (("width", width), ("time_dim", time_dim), ("T", T)):
            check_positive_int(value, name)
        if time_dim % 2 or time_dim < 4:
            raise ValueError(f"time_dim must be an even integer >= 4, got {time_dim}")
        self.width, self.time_dim, self.T = width, time_dim, T
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, 4 * width), nn.SiLU())
        self.shift = nn.Linear(4 * width, 4 * width)  # shifts of the 3 convs
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.conv3 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(8 * width, 64), nn.SiLU(), nn.Linear(64, 10)
        )

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        self._check(x_t, t)
        w = self.width
        emb = timestep_embedding(t - 1, self.time_dim).to(
            x_t.dtype
        )  # (B, time_dim), t - 1 as UNet
        emb = self.shift(self.time_mlp(emb))  # (B, 4w)
        b1, b2, b3 = (
            emb[:, :w, None, None],
            emb[:, w : 2 * w, None, None],
            emb[:, 2 * w :, None, None],
        )
        h = F.silu(self.conv1(x_t) + b1)  # (B, w, 8, 8)
        h = F.avg_pool2d(F.silu(self.conv2(h) + b2), 2)  # (B, w, 4, 4)
        h = F.avg_pool2d(F.silu(self.conv3(h) + b3), 2)  # (B, 2w, 2, 2)
        return self.head(h)  # (B, 10)

    def log_prob_y(self, x_t: Tensor, t: Tensor, y: Tensor | int) -> Tensor:
        """log p(y | x_t, t) of shape (B,): the adapter `classifier_guidance` takes.

        y: an int in 0..9 or an int64 tensor (B,). Differentiable in x_t.
        """
        y = torch.as_tensor(y, dtype=torch.int64, device=x_t.device)
        y = y.expand(x_t.shape[0]) if y.ndim == 0 else y
        if y.shape != (x_t.shape[0],) or bool(((y < 0) | (y > 9)).any()):
            raise ValueError(
                f"y must be an int in 0..9 or a tensor of shape ({x_t.shape[0]},) with "
                f"values in 0..9, got {y.tolist() if y.numel() < 8 else tuple(y.shape)}"
            )
        return self(x_t, t).log_softmax(1).gather(1, y[:, None])[:, 0]

    def _check(self, x_t: Tensor, t: Tensor) -> None:
        if (
            not isinstance(x_t, Tensor)
            or x_t.ndim != 4
            or tuple(x_t.shape[1:]) != (1, 8, 8)
        ):
            got = tuple(x_t.shape) if isinstance(x_t, Tensor) else type(x_t).__name__
            raise ValueError(f"x_t must have shape (B, 1, 8, 8), got {got}")
        check_timesteps(t, self.T, batch=x_t.shape[0])


def train_noisy_classifier(
    s: Schedule,
    *,
    steps: int = 4000,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    width: int = 32,
    train_idx: Tensor | None = None,
    device: torch.device | str = "cpu",
) -> NoisyDigitsClassifier:
    """Fit p(y | x_t, t) by cross-entropy on noised digits; returns the model in eval mode.

    Each step draws a batch of digits (from `train_idx`, default the training part of
    `ddpm_lite.metrics.digits_split()`), t ~ U{1..T} and eps ~ N(0, I), forms x_t with
    `q_sample` (Ho et al. 2020, Eq. 4) and minimises -log p(y | x_t, t): the training of
    Dhariwal & Nichol 2021, Sec. 4 and 4.3, on the digits. Adam, cosine learning rate, seed fixed.
    """
    from .metrics import digits_split

    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x, y = digits()
    idx = digits_split()[0] if train_idx is None else train_idx
    x, y = x[idx].to(device), y[idx].to(device)
    model = NoisyDigitsClassifier(width=width, T=s.T).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)  # as in train.train
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    for _ in range(steps):
        b = torch.randint(0, len(x), (batch_size,), generator=g).to(device)
        t = torch.randint(1, s.T + 1, (batch_size,), generator=g).to(device)
        eps = torch.randn(batch_size, 1, 8, 8, generator=g).to(device)
        loss = F.cross_entropy(model(q_sample(s, x[b], t, eps), t), y[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


def load_noisy_classifier() -> NoisyDigitsClassifier:
    """The shipped noise-aware classifier in eval mode, read from safetensors (no code runs)."""
    from safetensors.torch import load_file

    info = json.loads(NOISY_CLASSIFIER_INFO.read_text())
    model = NoisyDigitsClassifier(**info["config"])
    model.load_state_dict(load_file(str(NOISY_CLASSIFIER_WEIGHTS)))
    return model.eval()


@torch.no_grad()
def accuracy_vs_t(
    classify: Callable[[Tensor, Tensor], Tensor],
    s: Schedule,
    x_0: Tensor,
    y: Tensor,
    ts: Sequence[int],
    *,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Accuracy of classify(x_t, t) -> logits on x_t ~ q(x_t | x_0), one number per t in ts.

    One noise draw per image and t (x_t = q_sample(s, x_0, t, eps), Ho et al. 2020, Eq. 4);
    t = 0 means the clean x_0, shown to the classifier as t = 1. For a classifier of clean
    images pass `lambda x, t: clf(x)`. Lesson 12.
    """
    if x_0.ndim != 4 or y.shape != (x_0.shape[0],):
        raise ValueError(
            f"x_0 must be (N, C, H, W) and y (N,), got {tuple(x_0.shape)} and {tuple(y.shape)}"
        )
    out = []
    for t in ts:
        if not (isinstance(t, int) and 0 <= t <= s.T):
            raise ValueError(f"ts must hold integers in 0..T={s.T}, got {t!r}")
        eps = torch.randn(x_0.shape, generator=generator).to(x_0.device)
        tt = torch.full(
            (x_0.shape[0],), max(t, 1), dtype=torch.int64, device=x_0.device
        )
        x_t = x_0 if t == 0 else q_sample(s, x_0, tt, eps)
        out.append(float((classify(x_t, tt).argmax(1) == y).double().mean()))
    return out
