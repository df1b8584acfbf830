"""Statistical checks used by the lessons and the tests: tolerances from the central limit theorem."""

from __future__ import annotations

from torch import Tensor


def moment_z_scores(samples: Tensor, mean: float, var: float) -> tuple[float, float]:
    """z-scores of the sample mean and the sample variance of ``samples`` (all entries pooled).

        z_mean = (m - mean) / sqrt(v / n)
        z_var  = (v - var)  / sqrt((mu_4 - v^2) / n)

    with m, v the sample mean and variance and mu_4 the fourth central moment: by the
    central limit theorem both are about N(0, 1) when ``mean`` and ``var`` are the true
    moments, so |z| < 5 fails a correct claim with probability under 1e-6. Lesson 01.
    """
    x = samples.double().flatten()
    n = x.numel()
    if n < 2:
        raise ValueError(f"samples must have at least 2 entries, got {n}")
    m, v = x.mean(), x.var()
    mu_4 = ((x - m) ** 4).mean()
    z_mean = (m - mean) / (v / n).sqrt()
    z_var = (v - var) / ((mu_4 - v**2) / n).sqrt()
    return float(z_mean), float(z_var)
