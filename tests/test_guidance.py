"""Classifier guidance and classifier-free guidance, checked against an exact Bayes classifier."""

import torch

from ddpm_lite import GaussianMixture, linear_schedule
from ddpm_lite.guidance import classifier_free_guidance, classifier_guidance
from ddpm_lite.sde import (
    VPSDE,
    prior_sample,
    sample_reverse_sde,
    score_fn_from_eps_theta,
)

S = linear_schedule()
NULL = -1


def _oracles():
    """A 3-component mixture; class y = component index. Returns (gm, eps_cond, log_prob_y, calls).

    eps_cond(x_t, t, y) is the exact eps of component y's noised marginal (y = NULL: the whole
    mixture); log_prob_y(x_t, t, y) = log r_y(x_t), the exact posterior of the component (Bayes).
    """
    means = torch.tensor([[1.0, 0.5], [-1.0, -0.2], [0.5, -1.0]], dtype=torch.float64)
    stds = torch.tensor([[0.15, 0.3], [0.2, 0.2], [0.3, 0.15]], dtype=torch.float64)
    gm = GaussianMixture(means, stds, torch.tensor([1.0, 2.0, 1.0]))
    comps = [
        GaussianMixture(means[k : k + 1], stds[k : k + 1], torch.ones(1))
        for k in range(3)
    ]
    calls = []

    def eps_cond(x_t, t, y):
        calls.append(x_t.shape[0])
        all_eps = torch.stack(
            [c.eps_star(S, x_t, t) for c in comps + [gm]]
        )  # (K + 1, B, D)
        return all_eps[torch.where(y == NULL, 3, y), torch.arange(x_t.shape[0])]

    def log_prob_y(x_t, t, y):
        log_joint = torch.stack(
            [
                gm.weights[k].log() + c.log_prob_t(S, x_t, t)
                for k, c in enumerate(comps)
            ],
            1,
        )
        return log_joint.log_softmax(1).gather(
            1, torch.as_tensor(y).expand(x_t.shape[0])[:, None]
        )[:, 0]

    return gm, eps_cond, log_prob_y, calls


def _points(n=12):
    gen = torch.Generator().manual_seed(0)
    x = 1.2 * torch.randn(n, 2, dtype=torch.float64, generator=gen)
    t = torch.tensor([1, 5, 20, 50, 100, 200, 300, 400, 500, 700, 900, 1000])[:n]
    y = torch.tensor([0, 1, 2] * (n // 3))
    return x, t, y


def test_classifier_guidance_at_scale_1_is_the_exact_class_conditional_eps():
    """eps - sqrt(1 - alpha_bar) grad log p(y | x_t) = eps of p(x_t | y), by Bayes' rule."""
    gm, eps_cond, log_prob_y, _ = _oracles()
    x, t, y = _points()
    guided = classifier_guidance(gm.eps_model(S), log_prob_y, S, y, scale=1.0)
    torch.testing.assert_close(guided(x, t), eps_cond(x, t, y), rtol=1e-7, atol=1e-7)
    unguided = classifier_guidance(gm.eps_model(S), log_prob_y, S, y, scale=0.0)
    torch.testing.assert_close(unguided(x, t), gm.eps_star(S, x, t))
    assert not torch.allclose(guided(x, t), unguided(x, t), atol=1e-3)


def test_classifier_free_guidance_endpoints_and_one_batched_call():
    gm, eps_cond, _, calls = _oracles()
    x, t, y = _points()
    cond, uncond = eps_cond(x, t, y), gm.eps_star(S, x, t)
    calls.clear()
    torch.testing.assert_close(
        classifier_free_guidance(eps_cond, y, w=0.0, null_label=NULL)(x, t), cond
    )
    assert calls == [2 * len(x)]  # one forward pass
    torch.testing.assert_close(
        classifier_free_guidance(eps_cond, y, w=-1.0, null_label=NULL)(x, t), uncond
    )
    torch.testing.assert_close(
        classifier_free_guidance(eps_cond, y, w=2.0, null_label=NULL)(x, t),
        3 * cond - 2 * uncond,
    )
    # an int label and an int step work too
    torch.testing.assert_close(
        classifier_free_guidance(eps_cond, 1, w=0.5, null_label=NULL)(x, 100),
        1.5 * eps_cond(x, torch.full((12,), 100), torch.ones(12, dtype=torch.long))
        - 0.5 * gm.eps_star(S, x, torch.full((12,), 100)),
    )


def test_classifier_free_guidance_w_equals_classifier_guidance_scale_1_plus_w():
    """With the exact models, CFG's implicit classifier is the Bayes classifier."""
    gm, eps_cond, log_prob_y, _ = _oracles()
    x, t, y = _points()
    for w in (0.0, 1.0, 3.0):
        cfg = classifier_free_guidance(eps_cond, y, w=w, null_label=NULL)
        cg = classifier_guidance(gm.eps_model(S), log_prob_y, S, y, scale=1.0 + w)
        torch.testing.assert_close(cfg(x, t), cg(x, t), rtol=1e-7, atol=1e-7)


def test_guided_eps_drives_a_sampler_to_the_chosen_class():
    """The wrapper plugs into any sampler: here the reverse SDE through the nearest-step bridge."""
    gm, _, log_prob_y, _ = _oracles()
    sde, n = VPSDE.from_schedule(S), 300
    guided = classifier_guidance(gm.eps_model(S), log_prob_y, S, 2, scale=1.0)
    x_1 = prior_sample(sde, (n, 2), generator=torch.Generator().manual_seed(4))
    x_0 = sample_reverse_sde(
        score_fn_from_eps_theta(guided, S),
        sde,
        x_1,
        steps=200,
        progress=False,
        generator=torch.Generator().manual_seed(5),
    )
    posterior = log_prob_y(x_0, torch.ones(n, dtype=torch.long), 2).exp()
    assert float((posterior > 0.5).double().mean()) > 0.98  # class 2 has prior 1/4
