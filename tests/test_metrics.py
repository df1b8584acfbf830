"""The Fréchet distance against closed forms, and the shipped digits classifier against its record."""

import hashlib
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from ddpm_lite.datasets import digits
from ddpm_lite.metrics import (
    CLASSIFIER_INFO,
    CLASSIFIER_WEIGHTS,
    class_histogram,
    digits_fd,
    digits_features,
    digits_split,
    frechet_distance,
    frechet_distance_gaussians,
    load_digits_classifier,
    real_vs_real_floor,
)

ROOT = Path(__file__).resolve().parents[1]
INFO = json.loads(CLASSIFIER_INFO.read_text())


def test_fd_commuting_closed_form():
    """Diagonal covariances: d^2 = ||mu_a - mu_b||^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2."""
    mu_a, mu_b = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([1.0, 1.0, 0.5])
    a, b = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    want = ((mu_a - mu_b) ** 2).sum() + ((a.sqrt() - b.sqrt()) ** 2).sum()
    assert frechet_distance_gaussians(
        mu_a, torch.diag(a), mu_b, torch.diag(b)
    ) == pytest.approx(float(want), rel=1e-12)


def test_fd_non_commuting_2x2_closed_form():
    """For 2x2 M = S_a S_b with eigenvalues l1, l2 > 0: Tr(M^{1/2}) = sqrt(Tr M + 2 sqrt(det M)).

    S_a and S_b do not commute, so Tr(S_a^{1/2} S_b^{1/2}) or an entrywise root would differ.
    """
    cov_a = torch.tensor([[4.0, 1.9], [1.9, 1.0]], dtype=torch.float64)
    cov_b = torch.tensor([[1.0, -0.95], [-0.95, 1.0]], dtype=torch.float64)
    m = cov_a @ cov_b
    tr_root = torch.sqrt(torch.trace(m) + 2 * torch.sqrt(torch.det(m)))
    want = torch.trace(cov_a) + torch.trace(cov_b) - 2 * tr_root + 0.5**2
    got = frechet_distance_gaussians(
        torch.zeros(2), cov_a, torch.tensor([0.0, 0.5]), cov_b
    )
    assert got == pytest.approx(float(want), rel=1e-10)
    ra, rb = (
        torch.from_numpy(scipy.linalg.sqrtm(c.numpy()).real) for c in (cov_a, cov_b)
    )
    naive = torch.trace(cov_a) + torch.trace(cov_b) - 2 * torch.trace(ra @ rb) + 0.5**2
    assert (
        abs(float(naive) - float(want)) > 0.3
    )  # the test can tell the naive form apart


def test_fd_of_samples_matches_scipy_and_numpy_moments():
    """Differential: numpy's mean/cov (N - 1) and scipy.linalg.sqrtm give the same number."""
    g = torch.Generator().manual_seed(0)
    fa = torch.randn(300, 6, generator=g, dtype=torch.float64) @ torch.randn(
        6, 6, generator=g, dtype=torch.float64
    )
    fb = torch.randn(200, 6, generator=g, dtype=torch.float64) + 0.3
    a, b = fa.numpy(), fb.numpy()
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    want = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(
        sa + sb - 2 * scipy.linalg.sqrtm(sa @ sb).real
    )
    assert frechet_distance(fa, fb) == pytest.approx(want, rel=1e-9)
    assert frechet_distance(fa, fb) == pytest.approx(
        frechet_distance(fb, fa), rel=1e-10
    )  # symmetric
    assert frechet_distance(fa, fa) == pytest.approx(
        0.0, abs=1e-9 * float(torch.cov(fa.T).trace())
    )


def test_fd_rejects_bad_shapes():
    with pytest.raises(ValueError, match="feats_b must have the same D"):
        frechet_distance(torch.randn(5, 3), torch.randn(5, 4))
    with pytest.raises(ValueError, match="feats_a must have shape"):
        frechet_distance(torch.randn(1, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="cov_b must have shape"):
        frechet_distance_gaussians(
            torch.zeros(2), torch.eye(2), torch.zeros(2), torch.eye(3)
        )
    with pytest.raises(ValueError, match="samples must be digits"):
        digits_fd(torch.randn(5, 1, 28, 28))
    with pytest.raises(ValueError, match="n must be in 2..898"):
        real_vs_real_floor(899)


def test_weights_file_matches_recorded_sha256():
    assert (
        hashlib.sha256(CLASSIFIER_WEIGHTS.read_bytes()).hexdigest() == INFO["sha256"]
    ), "the weights changed: re-run the command in the JSON and commit both files"
    assert CLASSIFIER_WEIGHTS.stat().st_size == INFO["bytes"] < 500_000


def test_shipped_classifier_reaches_its_recorded_accuracy():
    x, y = digits()
    _, test_idx = digits_split()
    assert len(test_idx) == INFO["n_test"] == 360
    with torch.no_grad():
        correct = int(
            (load_digits_classifier()(x[test_idx]).argmax(1) == y[test_idx]).sum()
        )
    assert abs(correct - INFO["n_correct"]) <= 1  # one image of slack for other CPUs
    assert correct / len(test_idx) > 0.97 and INFO["test_accuracy"] > 0.97


def test_split_is_disjoint_and_complete():
    train_idx, test_idx = digits_split()
    assert torch.equal(
        torch.sort(torch.cat([train_idx, test_idx])).values, torch.arange(1797)
    )


def test_class_histogram_of_real_digits_matches_the_labels():
    x, y = digits()
    hist = class_histogram(x)
    assert hist.shape == (10,) and hist.sum().item() == pytest.approx(1.0)
    truth = torch.bincount(y, minlength=10).double() / len(y)
    assert (hist - truth).abs().max() < 0.01  # the classifier is ~99% right
    assert class_histogram(x[y == 3]).argmax() == 3


def test_floor_is_two_disjoint_subsets_and_below_degraded_sets():
    x = digits()[0]
    n = 500
    floor = real_vs_real_floor(n, generator=torch.Generator().manual_seed(1))
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(1))
    a, b = x[perm[:n]], x[perm[n : 2 * n]]
    assert floor == pytest.approx(
        frechet_distance(digits_features(a), digits_features(b)), rel=1e-12
    )
    assert floor > 0
    blurred = F.avg_pool2d(
        F.pad(b, (1, 1, 1, 1), mode="replicate"), 3, stride=1
    )  # 3x3 box blur
    noise = torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(2)).clamp(
        -1, 1
    )
    fd_blur, fd_noise = digits_fd(blurred, reference=a), digits_fd(noise, reference=a)
    assert 10 * floor < fd_blur and 10 * floor < fd_noise


def test_digits_fd_of_noise_is_large_and_of_real_digits_small():
    x = digits()[0]
    noise = torch.randn(
        1797, 1, 8, 8, generator=torch.Generator().manual_seed(0)
    ).clamp(-1, 1)
    fd_noise = digits_fd(noise)
    assert fd_noise > 20 * real_vs_real_floor(
        898, generator=torch.Generator().manual_seed(0)
    )
    assert digits_fd(x) == pytest.approx(
        0.0, abs=1e-6 * fd_noise
    )  # against the same 1797: zero


def test_assets_ship_in_the_wheel():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "assets/*" in config["tool"]["setuptools"]["package-data"]["ddpm_lite"]
