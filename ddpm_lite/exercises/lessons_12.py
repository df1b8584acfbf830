"""Exercise checkers of lesson 12 (guidance); registered on import."""

from __future__ import annotations

import torch

from ..schedule import linear_schedule
from ._core import Verdict, _call, exercise


def _labelled_mixture():
    """A 3-class 2-D mixture (class = component): (mixture, components, exact log p(y | x_t, t))."""
    from ..oracle import GaussianMixture

    f64 = dict(dtype=torch.float64)
    means = torch.tensor([[1.0, 0.5], [-1.0, -0.2], [0.5, -1.0]], **f64)
    stds = torch.tensor([[0.15, 0.3], [0.2, 0.2], [0.3, 0.15]], **f64)
    gm = GaussianMixture(means, stds, torch.tensor([1.0, 2.0, 1.0], **f64))
    comps = [
        GaussianMixture(means[k : k + 1], stds[k : k + 1], torch.ones(1, **f64))
        for k in range(3)
    ]
    s = linear_schedule()

    def log_prob_y(x_t, t, y):  # Bayes' rule, exactly
        log_joint = torch.stack(
            [
                gm.weights[k].log() + c.log_prob_t(s, x_t, t)
                for k, c in enumerate(comps)
            ],
            1,
        )
        return log_joint.log_softmax(1)[torch.arange(len(x_t)), y]

    return s, gm, comps, log_prob_y


def _points():
    x = 1.2 * torch.randn(
        9, 2, generator=torch.Generator().manual_seed(12), dtype=torch.float64
    )
    t = torch.tensor([2, 10, 50, 100, 250, 400, 600, 800, 1000])
    y = torch.tensor([0, 1, 2, 2, 1, 0, 0, 1, 2])
    return x, t, y


@exercise("12-cfg")
def _check_12_cfg(answer: object) -> Verdict:
    # answer: cfg(eps_cond, eps_uncond, w), Ho & Salimans' combination; compared with the package.
    from ..guidance import classifier_free_guidance

    if not callable(answer):
        return False, "expected a function cfg(eps_cond, eps_uncond, w)"
    gen = torch.Generator().manual_seed(0)
    e_c, e_u = (
        torch.randn(6, 1, 8, 8, generator=gen, dtype=torch.float64) for _ in range(2)
    )
    x = torch.zeros(6, 1, 8, 8, dtype=torch.float64)

    def model(x_t, t, y):  # returns e_c for y = 1, e_u for null
        return torch.where(
            (y == 1)[:, None, None, None],
            e_c.repeat(2, 1, 1, 1),
            e_u.repeat(2, 1, 1, 1),
        )

    for w in (0.0, -1.0, 0.5, 3.0):
        truth = classifier_free_guidance(model, 1, w=w, null_label=10)(x, 500)
        value, error = _call(answer, e_c, e_u, w, convert=torch.as_tensor)
        if error:
            return False, error
        if value.shape != truth.shape or not torch.allclose(
            value.double(), truth, rtol=1e-9, atol=1e-12
        ):
            if value.shape == truth.shape and torch.allclose(
                value.double(), e_u + w * (e_c - e_u)
            ):
                return False, (
                    "not yet: that is the 'guidance scale' form; with Ho & Salimans' w the "
                    "conditional model is w = 0, not w = 1"
                )
            return (
                False,
                f"not yet: at w = {w} your combination differs (check which term gets 1 + w)",
            )
    return True, "correct"


@exercise("12-implicit")
def _check_12_implicit(answer: object) -> Verdict:
    # answer: grad(eps_cond, eps_uncond, sigma) = grad_x log p(y | x_t) of CFG's implicit classifier;
    # checked against autograd of the exact Bayes classifier of a labelled mixture.
    if not callable(answer):
        return False, "expected a function grad(eps_cond, eps_uncond, sigma)"
    s, gm, comps, log_prob_y = _labelled_mixture()
    x, t, y = _points()
    xg = x.clone().requires_grad_(True)
    (truth,) = torch.autograd.grad(log_prob_y(xg, t, y).sum(), xg)
    e_c = torch.stack(
        [
            comps[k].eps_star(s, x[i : i + 1], t[i : i + 1])[0]
            for i, k in enumerate(y.tolist())
        ]
    )
    e_u = gm.eps_star(s, x, t)
    sigma = (1 - s.alpha_bar[t]).sqrt()[:, None]  # (N, 1)
    value, error = _call(answer, e_c, e_u, sigma, convert=torch.as_tensor)
    if error:
        return False, error
    if value.shape == truth.shape and torch.allclose(
        value.double(), truth, rtol=1e-7, atol=1e-9
    ):
        return True, "correct"
    if value.shape == truth.shape and torch.allclose(
        value.double(), -truth, rtol=1e-7, atol=1e-9
    ):
        return (
            False,
            "not yet: the sign is flipped (eps points away from the data: score = -eps / sigma)",
        )
    return (
        False,
        "not yet: compare with Bayes' rule for p(y | x_t) = p(x_t | y) p(y) / p(x_t), in eps",
    )
