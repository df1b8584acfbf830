"""Differential tests of ddpm_step, ddim_timesteps and ddim_step against diffusers' schedulers.

diffusers' timestep i is the paper's t = i + 1. Its tables are float32; we overwrite
`betas`, `alphas`, `alphas_cumprod` with our float64 ones and pass float64 inputs, so its step
arithmetic runs in float64 and the two implementations must agree to ~1e-12 (TOOLCHAIN.md).
"""

import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers import DDIMScheduler, DDPMScheduler  # noqa: E402

from ddpm_lite import linear_schedule  # noqa: E402
from ddpm_lite.samplers import ddim_step, ddim_timesteps, ddpm_step, sample_ddim  # noqa: E402

T = 1000
S = linear_schedule(T)


def _float64_tables(sched):
    sched.betas = S.beta[1:].clone()
    sched.alphas = S.alpha[1:].clone()
    sched.alphas_cumprod = S.alpha_bar[1:].clone()
    return sched


@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize(
    "variance, variance_type", [("beta_tilde", "fixed_small"), ("beta", "fixed_large")]
)
def test_ddpm_step_matches_ddpm_scheduler_step(variance, variance_type, clip):
    ref = _float64_tables(
        DDPMScheduler(
            num_train_timesteps=T, variance_type=variance_type, clip_sample=clip
        )
    )
    g = torch.Generator().manual_seed(0)
    shape = (3, 2, 4, 4)
    worst = 0.0
    for t in list(range(1, 30)) + list(range(30, T + 1, 7)) + [T]:
        x_t = 2 * torch.randn(
            shape, generator=g, dtype=torch.float64
        )  # x0_hat often beyond [-1, 1]
        eps = torch.randn(shape, generator=g, dtype=torch.float64)
        # diffusers draws randn(shape, generator, dtype=float64) on the CPU when t > 0 (its index);
        # the same seed reproduces its noise exactly
        seed = 1000 + t
        expected = ref.step(
            eps, t - 1, x_t, generator=torch.Generator().manual_seed(seed)
        ).prev_sample
        z = torch.randn(
            shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
        )
        ours = ddpm_step(S, eps, x_t, t, noise=z, variance=variance, clip_x0=clip)
        worst = max(worst, (ours - expected).abs().max().item())
    assert worst < 1e-10, worst


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
@pytest.mark.parametrize("n_train", [1000, 37])
def test_ddim_timesteps_match_ddim_scheduler(spacing, n_train):
    ref = DDIMScheduler(num_train_timesteps=n_train, timestep_spacing=spacing)
    stride = 1 if n_train < 100 else 3
    extra = 0
    for steps in list(range(1, n_train + 1, stride)) + [min(61, n_train), n_train]:
        ref.set_timesteps(steps)
        ours, theirs = (
            ddim_timesteps(n_train, steps, spacing=spacing),
            ref.timesteps + 1,
        )
        if spacing == "trailing" and len(theirs) == steps + 1:
            # diffusers bug: np.arange(T, 0, -T/steps) has float length steps + 1 here, and its
            # extra last timestep is -1 (wraps around to alphas_cumprod[-1]); we keep `steps`
            assert theirs[-1] == 0
            theirs, extra = theirs[:-1], extra + 1
        assert torch.equal(ours, theirs), (
            steps,
            ours.tolist()[-5:],
            theirs.tolist()[-5:],
        )
    if spacing == "trailing" and n_train == 1000:
        assert extra > 0  # the bug is exercised (steps=61)


@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("spacing, steps", [("leading", 50), ("trailing", 40)])
def test_ddim_step_matches_ddim_scheduler_over_a_whole_grid(eta, clip, spacing, steps):
    # grids where diffusers' prev = t - T // steps is the next grid point (T % steps == 0 for
    # trailing); set_alpha_to_one=True makes its last step go to alpha_bar = 1, our t_prev = 0
    ref = _float64_tables(
        DDIMScheduler(
            num_train_timesteps=T,
            timestep_spacing=spacing,
            set_alpha_to_one=True,
            clip_sample=clip,
        )
    )
    ref.final_alpha_cumprod = torch.tensor(1.0, dtype=torch.float64)
    ref.set_timesteps(steps)
    grid = ddim_timesteps(T, steps, spacing=spacing)
    assert torch.equal(grid, ref.timesteps + 1)
    prev = torch.cat([grid[1:], grid.new_zeros(1)])
    g = torch.Generator().manual_seed(1)
    x_ours = x_ref = torch.randn(4, 3, 4, 4, generator=g, dtype=torch.float64)
    for t, t_prev in zip(grid.tolist(), prev.tolist()):
        eps = torch.randn(x_ours.shape, generator=g, dtype=torch.float64) + 0.3 * x_ours
        z = torch.randn(x_ours.shape, generator=g, dtype=torch.float64)
        x_ref = ref.step(
            eps,
            t - 1,
            x_ours,
            eta=eta,
            variance_noise=z if eta > 0 else None,
            use_clipped_model_output=True,
        ).prev_sample
        x_ours = ddim_step(S, eps, x_ours, t, t_prev, eta=eta, noise=z, clip_x0=clip)
        torch.testing.assert_close(x_ours, x_ref, rtol=1e-10, atol=1e-10)


def test_ddim_linspace_steps_to_the_next_grid_point_unlike_diffusers():
    # diffusers' DDIMScheduler.step always goes to prev = t - T // steps. With "linspace" (and
    # "trailing" when steps does not divide T) that is not the next grid point: for T=1000,
    # steps=7 the grid is 1000, 833, 667, ... but it steps 1000 -> 858. The correct DDIM chain
    # (Song et al. 2021a, Sec. 4.2: a sub-sequence tau of 1..T) moves tau_i -> tau_{i+1}: test that.
    ref = DDIMScheduler(num_train_timesteps=T, timestep_spacing="linspace")
    ref.set_timesteps(7)
    grid = ddim_timesteps(T, 7, spacing="linspace")
    assert (
        grid.tolist()
        == (ref.timesteps + 1).tolist()
        == [1000, 833, 667, 501, 334, 167, 1]
    )
    assert int(ref.timesteps[0]) - T // 7 + 1 != int(
        grid[1]
    )  # diffusers' prev, paper indexing
    model = lambda x, t: 0.5 * x + 0.1  # noqa: E731  (any smooth model)
    x_T = torch.randn(2, 2, dtype=torch.float64)
    _, traj = sample_ddim(
        model,
        S,
        x_T,
        spacing="linspace",
        steps=7,
        progress=False,
        return_trajectory=True,
    )
    assert traj["t"] == grid.tolist()
    for i in range(6):
        x_t, t, t_next = traj["x_t"][i], traj["t"][i], traj["t"][i + 1]
        expected = ddim_step(S, model(x_t, None), x_t, t, t_next)
        torch.testing.assert_close(traj["x_t"][i + 1], expected, rtol=0, atol=0)
