"""Sample quality on a CPU: a Fréchet distance in the features of a small digits classifier.

FID (Heusel et al. 2017) compares Gaussians fitted to Inception features of real and
generated images. The 8x8 digits are too small for Inception, so `DigitsClassifier`, a tiny
CNN trained once on the real digits, plays its part: `digits_fd` is "FID for digits". Its
weights ship in `ddpm_lite/assets/digits_classifier.safetensors` with a JSON recording the
held-out accuracy, the SHA-256 of the weights and the command that made them:

    python benchmarks/train_digits_classifier.py

The digits have only 17 grey levels (0..16 mapped to [-1, 1]; see `ddpm_lite.datasets.digits`), which
matters for bits/dim elsewhere but not here. The Fréchet distance is estimated from n samples
and is biased upwards for finite n, so compare numbers only at equal n, and report each one
beside `real_vs_real_floor(n)`: the distance between two sets of real digits of the same size.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import torch
from torch import Tensor, nn

from ._checks import check_positive_int
from .datasets import digits

ASSETS = Path(__file__).resolve().parent / "assets"
CLASSIFIER_WEIGHTS = ASSETS / "digits_classifier.safetensors"
CLASSIFIER_INFO = ASSETS / "digits_classifier.json"
SPLIT_SEED, N_TEST = 0, 360


class DigitsClassifier(nn.Module):
    """A small CNN for the 8x8 digits: (B, 1, 8, 8) in [-1, 1] -> 10 logits.

    Two 3x3 convolutions at 8x8, one at 4x4, then a `feature_dim`-dimensional linear layer
    whose outputs (`features`, taken before its ReLU so that no unit is constantly zero) play
    the role of Inception's pool3 features in FID, and a linear head.
    """

    def __init__(self, width: int = 32, feature_dim: int = 64):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, w, 4, 4)
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 2w, 2, 2)
        )
        self.feature = nn.Sequential(nn.Flatten(), nn.Linear(8 * width, feature_dim))
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(feature_dim, 10))

    def features(self, x: Tensor) -> Tensor:
        """Penultimate layer, before its ReLU: (B, 1, 8, 8) -> (B, feature_dim)."""
        return self.feature(self.conv(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def digits_split() -> tuple[Tensor, Tensor]:
    """Indices (train, held-out) into `digits()`: a fixed random permutation, last 360 held out."""
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return perm[:-N_TEST], perm[-N_TEST:]


def load_digits_classifier() -> DigitsClassifier:
    """The shipped classifier in eval mode, read from safetensors (no code is executed)."""
    try:
        from safetensors.torch import load_file
    except ImportError as e:
        raise ImportError(
            "the digits classifier needs safetensors: pip install safetensors"
        ) from e
    info = json.loads(CLASSIFIER_INFO.read_text())
    model = DigitsClassifier(**info["config"])
    model.load_state_dict(load_file(str(CLASSIFIER_WEIGHTS)))
    return model.eval()


@functools.lru_cache(maxsize=1)
def _shipped() -> DigitsClassifier:
    return load_digits_classifier()


def _check_digit_images(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != (1, 8, 8):
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(
            f"{name} must be digits of shape (N, 1, 8, 8) in [-1, 1], got {got}"
        )


@torch.no_grad()
def digits_features(x: Tensor, *, classifier: DigitsClassifier | None = None) -> Tensor:
    """Penultimate features of the digits classifier, float64 of shape (N, 64); x (N, 1, 8, 8)."""
    _check_digit_images(x, "x")
    model = classifier if classifier is not None else _shipped()
    return model.features(x.float().cpu()).double()


def frechet_distance_gaussians(
    mu_a: Tensor, cov_a: Tensor, mu_b: Tensor, cov_b: Tensor
) -> float:
    """Fréchet (2-Wasserstein) distance squared between N(mu_a, S_a) and N(mu_b, S_b):

        d^2 = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2})      (Heusel et al. 2017, the FID)

    Tr((S_a S_b)^{1/2}) = Tr((S_a^{1/2} S_b S_a^{1/2})^{1/2}), the trace of the root of a
    symmetric PSD matrix, i.e. the sum of the square roots of its eigenvalues (float64).
    """
    mu_a, cov_a, mu_b, cov_b = (
        torch.as_tensor(v, dtype=torch.float64) for v in (mu_a, cov_a, mu_b, cov_b)
    )
    d = mu_a.shape[-1]
    for name, v, shape in (
        ("mu_a", mu_a, (d,)),
        ("mu_b", mu_b, (d,)),
        ("cov_a", cov_a, (d, d)),
        ("cov_b", cov_b, (d, d)),
    ):
        if tuple(v.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(v.shape)}")
    w, V = torch.linalg.eigh((cov_a + cov_a.T) / 2)
    root_a = V @ torch.diag(w.clamp(min=0).sqrt()) @ V.T  # S_a^{1/2}
    m = root_a @ cov_b @ root_a
    tr_root = (
        torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()
    )  # Tr((S_a S_b)^{1/2})
    d2 = (
        ((mu_a - mu_b) ** 2).sum()
        + torch.trace(cov_a)
        + torch.trace(cov_b)
        - 2 * tr_root
    )
    return max(float(d2), 0.0)


def frechet_distance(feats_a: Tensor, feats_b: Tensor) -> float:
    """Fréchet distance between Gaussians fitted (mean, unbiased covariance) to two feature
    sets of shapes (N_a, D) and (N_b, D). Biased upwards for finite N: compare at equal N."""
    for name, f in (("feats_a", feats_a), ("feats_b", feats_b)):
        if f.ndim != 2 or f.shape[0] < 2:
            raise ValueError(
                f"{name} must have shape (N, D) with N >= 2, got {tuple(f.shape)}"
            )
    if feats_a.shape[1] != feats_b.shape[1]:
        raise ValueError(
            f"feats_a and feats_b must have the same D, got {feats_a.shape[1]} "
            f"and {feats_b.shape[1]}"
        )
    a, b = feats_a.double(), feats_b.double()
    return frechet_distance_gaussians(
        a.mean(0), torch.cov(a.T), b.mean(0), torch.cov(b.T)
    )


def digits_fd(samples: Tensor, reference: Tensor | None = None) -> float:
    """ "FID for digits": the Fréchet distance in `digits_features` between `samples`
    (N, 1, 8, 8) in [-1, 1] and `reference` (default: all 1797 real digits).

    Depends on N (biased): report it at a stated N beside `real_vs_real_floor(N)`. For the
    like-for-like pair, pass N real digits as `reference` (the floor compares N with N).
    """
    _check_digit_images(samples, "samples")
    reference = digits()[0] if reference is None else reference
    _check_digit_images(reference, "reference")
    return frechet_distance(digits_features(samples), digits_features(reference))


@torch.no_grad()
def class_histogram(samples: Tensor) -> Tensor:
    """Frequencies of the classifier's predicted classes 0..9 among `samples` (N, 1, 8, 8):
    float64 of shape (10,) summing to 1. A mode-dropping model shows empty classes."""
    _check_digit_images(samples, "samples")
    pred = _shipped()(samples.float().cpu()).argmax(1)
    return torch.bincount(pred, minlength=10).double() / len(pred)


def real_vs_real_floor(n: int, *, generator: torch.Generator | None = None) -> float:
    """The Fréchet distance between two disjoint random sets of n real digits (n <= 898).

    What a perfect model would score at sample size n against n real digits: the floor
    beside which every `digits_fd` at that n must be reported.
    """
    check_positive_int(n, "n")
    x = digits()[0]
    if not 2 <= n <= len(x) // 2:
        raise ValueError(
            f"n must be in 2..{len(x) // 2} (two disjoint halves of 1797 digits), got {n}"
        )
    perm = torch.randperm(len(x), generator=generator)
    return frechet_distance(
        digits_features(x[perm[:n]]), digits_features(x[perm[n : 2 * n]])
    )


@torch.no_grad()
def digits_quality(
    eps_theta, *, n: int = 300, steps: int = 50, seed: int = 0
) -> dict[str, float]:
    """The course's quality bar for a digits model: FD of n samples vs n real digits, and its floor.

    Samples come from Algorithm 2 on the linear schedule respaced to `steps` evenly spaced steps
    (`respace`; eps_theta(x_t, t) is called with the paper's t in 1..1000), clamped to [-1, 1].
    Returns {"fd", "floor" (mean real-vs-real FD at n over three draws), "bar" = 2.5 * floor,
    "noise" (FD of clamped Gaussian noise), "min_class" (smallest class share, `class_histogram`)}.
    A model passes when fd < bar and every class appears (min_class >= 0.04). Used by
    tests/test_course_models.py and benchmarks/train_digits.py.
    """
    from .samplers import sample_ddpm
    from .schedule import linear_schedule, respace

    check_positive_int(steps, "steps")
    s = linear_schedule()
    if not 1 <= steps <= s.T or s.T % steps:
        raise ValueError(f"steps must divide T={s.T} (e.g. 10, 50, 100), got {steps}")
    s_k, t_map = respace(s, range(s.T // steps, s.T + 1, s.T // steps))
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn(n, 1, 8, 8, generator=g)
    x = sample_ddpm(
        lambda x_t, t: eps_theta(x_t, t_map[t]), s_k, x_T, generator=g, progress=False
    ).clamp(-1, 1)
    images = digits()[0]
    reference = images[torch.randperm(len(images), generator=g)[:n]]
    floor = (
        sum(
            real_vs_real_floor(n, generator=torch.Generator().manual_seed(i))
            for i in range(3)
        )
        / 3
    )
    noise = digits_fd(torch.randn(n, 1, 8, 8, generator=g).clamp(-1, 1), reference)
    return {
        "fd": digits_fd(x, reference),
        "floor": floor,
        "bar": 2.5 * floor,
        "noise": noise,
        "min_class": float(class_histogram(x).min()),
    }
