"""Differential tests against huggingface diffusers' DDPMScheduler (an independent reference).

diffusers' timestep index i is the paper's t = i + 1, and its tables are float32; there,
`1 - alpha_bar` at small t cancels and costs ~1e-3 relative (TOOLCHAIN.md), so we compare
its own tables loosely and compare formulas exactly after overwriting its tables with our
float64 ones.
"""

import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers import DDPMScheduler  # noqa: E402

from ddpm_lite import (
    cosine_schedule,
    linear_schedule,
    p_mean_var,
    q_sample,  # noqa: E402
    x0_from_eps,
)

T = 1000
SCHEDULES = {
    "linear": (
        lambda: linear_schedule(T),
        dict(beta_schedule="linear", beta_start=1e-4, beta_end=0.02),
    ),
    "squaredcos_cap_v2": (
        lambda: cosine_schedule(T),
        dict(beta_schedule="squaredcos_cap_v2"),
    ),
}


def _scheduler(name, clip_sample=False):
    return DDPMScheduler(
        num_train_timesteps=T,
        variance_type="fixed_small",
        clip_sample=clip_sample,
        **SCHEDULES[name][1],
    )


@pytest.mark.parametrize("name", SCHEDULES)
def test_float32_tables_match_after_the_index_shift(name):
    s, ref = SCHEDULES[name][0](), _scheduler(name)
    # float32 tables: betas agree to float32 rounding, the cumulative product to the
    # accumulated rounding of 1000 float32 multiplications (~1000 * 6e-8)
    torch.testing.assert_close(ref.betas.double(), s.beta[1:], rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(
        ref.alphas_cumprod.double(), s.alpha_bar[1:], rtol=1e-4, atol=1e-9
    )
    # posterior variance at paper t = i + 1; from t = 4 on the float32 cancellation is < 1e-3
    variance = torch.stack([ref._get_variance(i) for i in range(3, T)]).double()
    torch.testing.assert_close(variance, s.beta_tilde[4:], rtol=1e-3, atol=0)


def _float64_scheduler(name, s, clip_sample=False):
    """A diffusers scheduler whose tables are our float64 ones: its arithmetic runs in float64."""
    ref = _scheduler(name, clip_sample)
    ref.betas, ref.alphas, ref.alphas_cumprod = s.beta[1:], s.alpha[1:], s.alpha_bar[1:]
    ref.one = torch.tensor(1.0, dtype=torch.float64)
    return ref


@pytest.mark.parametrize("name", SCHEDULES)
def test_formulas_match_exactly_in_float64(name):
    s = SCHEDULES[name][0]()
    ref = _float64_scheduler(name, s)
    variance = torch.stack([ref._get_variance(i) for i in range(1, T)])
    torch.testing.assert_close(variance, s.beta_tilde[2:], rtol=1e-12, atol=0)
    gen = torch.Generator().manual_seed(0)
    x_0 = torch.rand(5, 2, 3, dtype=torch.float64, generator=gen) * 2 - 1
    eps = torch.randn(5, 2, 3, dtype=torch.float64, generator=gen)
    t = torch.tensor([1, 2, 50, 700, 1000])
    torch.testing.assert_close(
        q_sample(s, x_0, t, eps), ref.add_noise(x_0, eps, t - 1), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("clip", [False, True])
def test_one_reverse_step_matches_diffusers_step(name, clip):
    """x_{t-1} = mean + sqrt(beta_tilde_t) z with the same z: equal to diffusers' step."""
    s = SCHEDULES[name][0]()
    ref = _float64_scheduler(name, s, clip_sample=clip)
    gen = torch.Generator().manual_seed(1)
    x_t = torch.randn(3, 4, dtype=torch.float64, generator=gen) * 1.5
    eps_hat = torch.randn(3, 4, dtype=torch.float64, generator=gen)
    for t in (2, 3, 20, 500, 999, 1000):
        tt = torch.full((3,), t)
        out = ref.step(eps_hat, t - 1, x_t, generator=torch.Generator().manual_seed(t))
        z = torch.randn(
            3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(t)
        )
        mean, var, _ = p_mean_var(
            s, eps_hat, x_t, tt, variance="beta_tilde", clip_x0=clip
        )
        torch.testing.assert_close(
            mean + var.sqrt() * z, out.prev_sample, rtol=1e-10, atol=1e-10
        )
        x0_hat = x0_from_eps(s, x_t, tt, eps_hat)
        torch.testing.assert_close(
            x0_hat.clamp(-1, 1) if clip else x0_hat,
            out.pred_original_sample,
            rtol=1e-12,
            atol=1e-12,
        )
