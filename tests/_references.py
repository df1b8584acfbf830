"""References for the sampler tests and benchmark: the exact probability-flow ODE solution of a
Gaussian mixture, and diffusers' DDIM / DPM-Solver++ / UniPC schedulers driven by the same model.

In the half-log-SNR lambda (alpha^2 = sigmoid(2 lambda), sigma^2 = sigmoid(-2 lambda)) the
probability-flow ODE of a VP diffusion is, with the exact data prediction
x0_star(x, lambda) = E[x_0 | x_lambda = x],

    dx/dlambda = alpha (x0_star(x, lambda) - alpha x)          (d(x / sigma)/dlambda = e^lambda x0_star)

It depends on the schedule only through the end points, so any sampler on any integer grid of
any schedule converges to its solution. We integrate it with scipy's DOP853 at a tight
tolerance, with x0_star computed here from the mixture's parameters (independently of
ddpm_lite.oracle), from lambda_T to lambda_1, then take the exact last step to clean data,
x_0 = x0_star(x_1, lambda_1): the same last step every sampler here takes (DDIM from t = 1 to
t = 0, DPM-Solver++ and UniPC to sigma = 0), so the reference is the samplers' common limit.
"""

import math

import numpy as np
from scipy.integrate import solve_ivp


def x0_star(means, stds, weights, x, lam):
    """E[x_0 | x_lambda = x] for sum_k w_k N(mu_k, diag(s_k^2)); x: (N, D) numpy float64."""
    a2 = 1 / (1 + math.exp(-2 * lam))
    a, sig2 = math.sqrt(a2), 1 - a2
    var = a2 * stds**2 + sig2  # (K, D)
    diff = x[:, None, :] - a * means[None]  # (N, K, D)
    logp = np.log(weights) - 0.5 * (diff**2 / var + np.log(var)).sum(-1)  # (N, K)
    r = np.exp(logp - logp.max(1, keepdims=True))
    r /= r.sum(1, keepdims=True)
    post = means[None] + a * stds[None] ** 2 / var[None] * diff  # E[x_0 | x, k]
    return (r[..., None] * post).sum(1)


def pf_ode_reference(gm, lam_T, lam_1, x_T, rtol=1e-11):
    """x_0 from x_T by the probability-flow ODE (DOP853) from lam_T to lam_1, then x0_star."""
    means, stds, weights = (v.numpy() for v in (gm.means, gm.stds, gm.weights))
    shape, x = x_T.shape, x_T.double().reshape(x_T.shape[0], -1).numpy()

    def f(lam, y):
        a = math.sqrt(1 / (1 + math.exp(-2 * lam)))
        x_ = y.reshape(x.shape)
        return (a * (x0_star(means, stds, weights, x_, lam) - a * x_)).ravel()

    sol = solve_ivp(f, (lam_T, lam_1), x.ravel(), method="DOP853", rtol=rtol, atol=rtol)
    x_1 = sol.y[:, -1].reshape(x.shape)
    import torch

    return torch.from_numpy(x0_star(means, stds, weights, x_1, lam_1)).reshape(shape)


def pf_ode_states(gm, lam_T, lams, x_T, rtol=1e-12):
    """x at each lambda of the ascending `lams` on the probability-flow ODE from x_T at lam_T,
    and the exact data predictions x0_star there: two lists of (N, D) float64 tensors."""
    import torch

    means, stds, weights = (v.numpy() for v in (gm.means, gm.stds, gm.weights))
    x = x_T.double().numpy()

    def f(lam, y):
        a = math.sqrt(1 / (1 + math.exp(-2 * lam)))
        x_ = y.reshape(x.shape)
        return (a * (x0_star(means, stds, weights, x_, lam) - a * x_)).ravel()

    sol = solve_ivp(
        f,
        (lam_T, lams[-1]),
        x.ravel(),
        method="DOP853",
        t_eval=lams,
        rtol=rtol,
        atol=rtol,
    )
    states = [sol.y[:, k].reshape(x.shape) for k in range(len(lams))]
    predictions = [
        x0_star(means, stds, weights, y, lam) for y, lam in zip(states, lams)
    ]
    return [torch.from_numpy(v) for v in states], [
        torch.from_numpy(v) for v in predictions
    ]


def toy_mixture():
    """The 2-D test mixture: three round components, data roughly in [-1.5, 1.5]^2."""
    import torch

    from ddpm_lite import GaussianMixture

    return GaussianMixture(
        torch.tensor([[-1.0, -0.5], [1.0, 0.0], [0.0, 1.0]]),
        torch.tensor([0.3, 0.4, 0.35]),
        torch.tensor([0.3, 0.4, 0.3]),
    )


def oracle_x_T(n, seed=0):
    """n starting points of the 2-D oracle tests, float64, from their own generator."""
    import torch

    return torch.randn(
        n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


def rmse(a, b):
    """Root-mean-square distance between two sets of points (rows), a float."""
    return (a - b).pow(2).sum(1).mean().sqrt().item()


def order_fit(steps, errors):
    """Slope of -log(error) against log(steps): the measured order of convergence."""
    return float(-np.polyfit(np.log(steps), np.log(errors), 1)[0])


def diffusers_ddim(eps_theta, s, x_T, steps, *, spacing="leading", float64=False):
    """x_0 from diffusers' DDIMScheduler (eta = 0, set_alpha_to_one) driven by eps_theta.

    float64=True overwrites its float32 tables with s's float64 ones.
    """
    import torch
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(
        num_train_timesteps=s.T,
        beta_start=1e-4,
        beta_end=0.02,
        beta_schedule="linear",
        clip_sample=False,
        set_alpha_to_one=True,
        timestep_spacing=spacing,
    )
    if float64:
        sched.betas, sched.alphas, sched.alphas_cumprod = (
            s.beta[1:],
            s.alpha[1:],
            s.alpha_bar[1:],
        )
        sched.final_alpha_cumprod = torch.tensor(1.0, dtype=torch.float64)
    sched.set_timesteps(steps)
    x = x_T
    for i in sched.timesteps.tolist():
        t = torch.full(
            (x.shape[0],), i + 1, dtype=torch.int64
        )  # paper t = diffusers' i + 1
        x = sched.step(eps_theta(x, t), i, x).prev_sample
    return x


def _multistep_scheduler(scheduler, s, steps, float64, **options):
    """A diffusers multistep scheduler for the linear schedule `s`, its timesteps set; with
    float64, its tables and sigmas (sqrt(1/alpha_bar - 1), then 0) replaced by float64 ones."""
    import torch

    sched = scheduler(
        num_train_timesteps=s.T,
        beta_start=1e-4,
        beta_end=0.02,
        beta_schedule="linear",
        **options,
    )
    if float64:
        sched.betas, sched.alphas, sched.alphas_cumprod = (
            s.beta[1:],
            s.alpha[1:],
            s.alpha_bar[1:],
        )
    sched.set_timesteps(steps)
    if float64:
        ab = s.alpha_bar[sched.timesteps + 1]
        sched.sigmas = torch.cat(
            [((1 - ab) / ab).sqrt(), torch.zeros(1, dtype=torch.float64)]
        )
    return sched


def _float32_is_float64(module, wide):
    """While active, `module` sees a `torch` whose float32 is float64 (if `wide`)."""
    import contextlib
    import types
    from unittest import mock

    import torch

    if not wide:
        return contextlib.nullcontext()
    return mock.patch.object(
        module,
        "torch",
        types.SimpleNamespace(**{**vars(torch), "float32": torch.float64}),
    )


def diffusers_dpm_solver(
    eps_theta, s, x_T, steps, *, order=2, float64=False, keep_float64=False
):
    """x_0 from diffusers' DPMSolverMultistepScheduler(dpmsolver++, midpoint), default config.

    float64=True overwrites its tables and its float32 `sigmas` with float64 values; its step
    still rounds the running sample to float32 (`sample.to(torch.float32)`), ~1e-7 relative.
    keep_float64=True (with float64) also keeps that cast from rounding: while the scheduler
    runs, its module sees a `torch` whose float32 is float64. Every formula, buffer and order
    rule is diffusers' own; only the precision changes.
    """
    import torch
    from diffusers import DPMSolverMultistepScheduler
    from diffusers.schedulers import scheduling_dpmsolver_multistep as module

    sched = _multistep_scheduler(
        DPMSolverMultistepScheduler,
        s,
        steps,
        float64,
        algorithm_type="dpmsolver++",
        solver_order=order,
    )
    with _float32_is_float64(module, float64 and keep_float64):
        x = x_T
        for i in sched.timesteps.tolist():
            t = torch.full((x.shape[0],), i + 1, dtype=torch.int64)
            x = sched.step(eps_theta(x, t), i, x).prev_sample
    return x


def diffusers_unipc(
    eps_theta, s, x_T, steps, *, order=2, variant="bh2", corrector=True, float64=False
):
    """x_0 from diffusers' UniPCMultistepScheduler (predict_x0, default config otherwise).

    float64=True does what it does in `diffusers_dpm_solver` with keep_float64: float64 tables
    and sigmas, and a module-level `torch` whose float32 is float64, so the scheduler's own
    casts do not round. corrector=False disables UniC at every step. For bh1 the last step is
    taken outside the scheduler (see below).
    """
    import torch
    from diffusers import UniPCMultistepScheduler
    from diffusers.schedulers import scheduling_unipc_multistep as module

    sched = _multistep_scheduler(
        UniPCMultistepScheduler,
        s,
        steps,
        float64,
        solver_order=order,
        solver_type=variant,
        disable_corrector=[] if corrector else list(range(steps)),
    )
    with _float32_is_float64(module, float64):
        x, timesteps = x_T, sched.timesteps.tolist()
        for k, i in enumerate(timesteps):
            t = torch.full((x.shape[0],), i + 1, dtype=torch.int64)
            eps = eps_theta(x, t)
            if variant == "bh1" and k == len(timesteps) - 1:
                # Its bh1 step to sigma = 0 multiplies B(h) = -h = -inf by an empty
                # correction, 0, and returns NaN. That first-order step is x_0 = x_theta,
                # which its bh2 path returns: take it here from its own table.
                ab = sched.alphas_cumprod[i]
                return (x - (1 - ab).sqrt() * eps) / ab.sqrt()
            x = sched.step(eps, i, x).prev_sample
    return x
