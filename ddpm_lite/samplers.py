"""Discrete-time samplers: DDPM ancestral sampling, DDIM, DDIM inversion, and slerp.

Every sampler is a plain function over an explicit, descending grid of the paper's
timesteps (1..T; t = 0 means clean data, alpha_bar[0] = 1). A model is any callable
`eps_theta(x_t, t) -> eps_hat` with t an int64 tensor of shape (B,). Samplers take the
starting noise x_T rather than a shape, and draw fresh noise with
the generator's device (the CPU by default) before moving it to x's device, so a run is
reproducible given (x_T, generator) on any device. The model's first output is checked
in full (a floating-point tensor of x's shape, on its device, finite); a NaN or inf in a
later one is kept on the device and raised at the end as FloatingPointError naming its t
(`_checks.watch_model`). Lessons 06 (training and sampling) and 08 (DDIM).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch import Tensor

from ._checks import (
    ArgTypeError,
    check_bool,
    check_choice,
    check_floating,
    check_int,
    check_positive_int,
    check_real,
    check_samples,
    check_steps,
    check_timesteps,
    watch_model,
)
from ._noise import randn_like
from .diffusion import VARIANCES, p_mean_var, x0_from_eps
from .schedule import Schedule, gather

EpsModel = Callable[[Tensor, Tensor], Tensor]
SPACINGS = ("leading", "trailing", "linspace", "quadratic")


def progress(
    iterable: Iterable, *, disable: bool = False, total: int | None = None
) -> Iterable:
    """Wrap `iterable` in a tqdm progress bar (the notebook flavour in Jupyter)."""
    if disable:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, leave=False)


_progress = (
    progress  # the samplers' keyword `progress` shadows the function inside them
)


# ---------------------------------------------------------------------------- checks
def _check_eta(eta: float) -> float:
    return check_real(eta, "eta", 0.0)


def check_grid(
    timesteps: Iterable[int] | Tensor, T: int, name: str = "timesteps"
) -> Tensor:
    """A user time grid as a strictly descending int64 tensor with values in 1..T."""
    grid = torch.as_tensor(
        timesteps if isinstance(timesteps, Tensor) else list(timesteps)
    )
    if (
        grid.ndim != 1
        or grid.numel() == 0
        or grid.is_floating_point()
        or grid.dtype == torch.bool
    ):
        raise ValueError(
            f"{name} must be a non-empty 1-D sequence of integers in 1..T={T}"
        )
    grid = grid.to(torch.int64).cpu()
    if (
        int(grid.min()) < 1
        or int(grid.max()) > T
        or bool((grid[1:] >= grid[:-1]).any())
    ):
        raise ValueError(
            f"{name} must be strictly descending integers in 1..T={T}, got "
            f"{grid.tolist()[:8]}{'...' if grid.numel() > 8 else ''}"
        )
    return grid


def _distinct_ascending(t: list[int], T: int) -> list[int]:
    """Make sorted values in 1..T strictly increasing with the least moves (needs len(t) <= T).

    Up: t_i = max(t_i, t_{i-1} + 1); then down from T: t_i = min(t_i, t_{i+1} - 1).
    """
    out = sorted(t)
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1] + 1)
    out[-1] = min(out[-1], T)
    for i in range(len(out) - 2, -1, -1):
        out[i] = min(out[i], out[i + 1] - 1)
    return out


# ---------------------------------------------------------------------------- DDPM
def ddpm_step(
    s: Schedule,
    eps: Tensor,
    x_t: Tensor,
    t: Tensor | int,
    *,
    noise: Tensor | None,
    variance: str = "beta",
    clip_x0: bool = False,
) -> Tensor:
    """One ancestral step x_t -> x_{t-1} (Ho et al. 2020, Algorithm 2, line 4).

        x_{t-1} = mu_theta(x_t, t) + sigma_t z,     z = noise, and z = 0 where t = 1
        mu_theta = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t)      (Eq. 11)

    sigma_t^2 is beta_t ("beta", diffusers' "fixed_large") or beta_tilde_t ("beta_tilde",
    "fixed_small"); with clip_x0 the mean is mu_tilde(clamp(x0_hat, -1, 1), x_t) (Eq. 7), see
    `p_mean_var`. eps, x_t, noise: (B, ...); t: int or int64 (B,) in 1..T. noise may be None
    only if every t is 1. Returns x_{t-1} of shape (B, ...). Lesson 06.
    """
    check_choice(variance, VARIANCES, "variance")
    t = check_steps(t, "t", 1, s.T, batch=check_floating(x_t, "x_t").shape[0])
    mean, var, _ = p_mean_var(s, eps, x_t, t, variance=variance, clip_x0=clip_x0)
    last = (t == 1).reshape(-1, *([1] * (x_t.ndim - 1))).to(x_t.device)
    if bool(last.all()):
        return mean  # Alg. 2, line 3: z = 0 at t = 1
    if noise is None or noise.shape != x_t.shape:
        raise ValueError(
            f"noise must be a tensor of shape {tuple(x_t.shape)} when some t > 1"
        )
    return mean + torch.where(last, 0.0, var.sqrt() * noise)  # Alg. 2, line 4


@torch.no_grad()
def sample_ddpm(
    eps_theta: EpsModel,
    s: Schedule,
    x_T: Tensor,
    *,
    variance: str = "beta",
    clip_x0: bool = False,
    generator: torch.Generator | None = None,
    progress: bool = True,
    return_trajectory: bool = False,
    t_start: int | Tensor | None = None,
):
    """Ancestral sampling from x_T through all T steps (Ho et al. 2020, Algorithm 2).

    x_T: (B, ...) starting noise (Alg. 2, line 1 is the caller's torch.randn). Returns x_0,
    or (x_0, trajectory) with trajectory = {"t", "x_t", "x0_hat"} lists over the visited
    steps. `variance`, `clip_x0` as in `ddpm_step`. With t_start (in 1..T, default T) the
    chain starts from x_T taken as x_{t_start} and runs steps t_start..1: the decoder of
    paper Sec. 4.3-4.4 (continuing a chain, decoding an interpolated x_t). t_start may also
    be an integer tensor (B,), a step for each row: the rows then run in one batch, row i
    unchanged until the chain reaches t_start[i] (no trajectory then). Where all rows start
    at the same step this is the int's run, draw for draw. Lessons 06, 07.
    """
    check_choice(variance, VARIANCES, "variance")
    check_samples(x_T, "x_T")
    check_bool(return_trajectory, "return_trajectory")
    per_row = isinstance(t_start, Tensor)
    if per_row:
        starts = check_timesteps(t_start, s.T, "t_start", batch=x_T.shape[0])
        if return_trajectory:
            raise ValueError(
                "return_trajectory needs one t_start for all rows (an int), got a tensor"
            )
        starts = starts.to(x_T.device)
        t_start = int(starts.max())
    t_start = s.T if t_start is None else t_start
    check_int(t_start, "t_start", 1, s.T, bounds=f"in 1..T={s.T}")
    eps_theta, check_later_outputs = watch_model(eps_theta, "eps_theta")
    x, traj = x_T, {"t": [], "x_t": [], "x0_hat": []}
    for t in _progress(range(t_start, 0, -1), disable=not progress):  # Alg. 2, line 2
        rows = None if not per_row or bool((starts >= t).all()) else starts >= t
        x_t = x if rows is None else x[rows]  # the rows whose chain has begun
        tt = torch.full((x_t.shape[0],), t, dtype=torch.int64, device=x.device)
        eps = eps_theta(x_t, tt)
        z = randn_like(x_t, generator) if t > 1 else None  # Alg. 2, line 3
        if return_trajectory:
            x0_hat = x0_from_eps(s, x_t, tt, eps)
            (
                traj["t"].append(t),
                traj["x_t"].append(x_t),
                traj["x0_hat"].append(x0_hat.clamp(-1, 1) if clip_x0 else x0_hat),
            )
        x_next = ddpm_step(
            s, eps, x_t, t, noise=z, variance=variance, clip_x0=clip_x0
        )  # Alg. 2, line 4
        if rows is None:
            x = x_next
        else:
            x = x.clone()
            x[rows] = x_next
    check_later_outputs()  # one host read: did eps_theta return NaN or inf on the way?
    return (x, traj) if return_trajectory else x  # Alg. 2, line 6


# ---------------------------------------------------------------------------- DDIM
def ddim_timesteps(T: int, steps: int, *, spacing: str = "leading") -> Tensor:
    """A descending grid of `steps` paper timesteps in 1..T for DDIM (int64, length steps).

    With k = 0..steps-1, and round() computed in float64 as numpy does (half to even, so
    a tie such as 937.5 may land on either side after float rounding, exactly as in diffusers):
      "leading"   : 1 + k * (T // steps)                         diffusers "leading", steps_offset=0;
                    the uniform skip of the DDIM code (ermongroup/ddim, skip_type="uniform")
      "trailing"  : round(T - k * T / steps)                     diffusers "trailing"; always starts at T
      "linspace"  : 1 + round(k * (T - 1) / (steps - 1))         diffusers "linspace" (steps=1 gives [1])
      "quadratic" : 1 + floor((k * sqrt(0.8 T) / (steps - 1))^2), as numpy computes it in the
                    DDIM code's "quad" skip (used for CIFAR-10); where the floor repeats a value
                    (steps > ~sqrt(0.8 T)) the repeat is pushed up by one (and, if that passes T,
                    the top ones down) so the grid stays strictly increasing; their code
                    takes a no-op step at a repeat instead.
    Each equals diffusers' DDIMScheduler `timesteps + 1` (its index is t - 1), except that
    diffusers' "trailing" builds np.arange(T, 0, -T/steps), whose float length is sometimes
    steps + 1 (e.g. T=1000, steps=61) with a spurious last timestep -1; we keep the first
    `steps` values. Stable
    Diffusion's configs use "leading" with steps_offset = 1, i.e. this grid + 1, together
    with set_alpha_to_one=False, which ends at alpha_bar_1 instead of clean data: to
    reproduce it pass `timesteps=ddim_timesteps(T, n) + 1`; note that our samplers still take
    the last step to t = 0. Lesson 08; "leading/trailing/linspace" are the names of Lin et
    al. 2024, "Common Diffusion Noise Schedules and Sample Steps are Flawed", Table 2.
    """
    check_positive_int(T, "T")
    check_int(steps, "steps", 1, T, bounds=f"in 1..T={T}")
    check_choice(spacing, SPACINGS, "spacing")
    k = range(steps)
    if spacing == "leading":
        t = [1 + i * (T // steps) for i in k]
    elif spacing == "trailing":  # [:steps]: see the docstring
        t = (
            np.round(np.arange(T, 0, -T / steps))[:steps][::-1]
            .astype(np.int64)
            .tolist()
        )
    elif spacing == "linspace":
        t = (1 + np.linspace(0, T - 1, steps).round()).astype(np.int64).tolist()
    else:
        quad = (np.linspace(0, np.sqrt(T * 0.8), steps) ** 2).astype(np.int64)
        t = _distinct_ascending([1 + int(v) for v in quad], T)
    return torch.tensor(t, dtype=torch.int64).flip(0)


def ddim_sigma(s: Schedule, t: Tensor, t_prev: Tensor, eta: float) -> Tensor:
    """sigma_t(eta) of a DDIM step t -> t_prev, float64 of t's shape (Song et al. 2021a, Eq. 16).

        sigma = eta * sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)) * sqrt(1 - alpha_bar_t / alpha_bar_prev)

    t: int or int64 in 1..T, t_prev: int or int64 in 0..t-1 (shapes that broadcast);
    eta a number >= 0. eta = 1 on consecutive steps gives sigma^2 = beta_tilde_t (DDPM's
    posterior variance); eta = 0 is deterministic. Lesson 08.
    """
    eta = _check_eta(eta)
    t, t_prev = check_steps(t, "t", 1, s.T), check_steps(t_prev, "t_prev", 0, s.T - 1)
    if bool((t_prev >= t).any()):
        raise ValueError("t_prev must be smaller than t (in 0..t-1)")
    ab, ab_prev = s.alpha_bar[t], s.alpha_bar[t_prev]
    return (
        eta * ((1 - ab_prev) / (1 - ab)).sqrt() * (1 - ab / ab_prev).clamp(min=0).sqrt()
    )


def ddim_step(
    s: Schedule,
    eps: Tensor,
    x_t: Tensor,
    t: Tensor | int,
    t_prev: Tensor | int,
    *,
    eta: float = 0.0,
    noise: Tensor | None = None,
    clip_x0: bool = False,
) -> Tensor:
    """One generalized step x_t -> x_{t_prev} (Song et al. 2021a, Eq. 12 with sigma of Eq. 16).

        x0_hat    = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)
        x_{t_prev} = sqrt(alpha_bar_prev) x0_hat
                   + sqrt(1 - alpha_bar_prev - sigma_t^2) eps + sigma_t z,   z = noise ~ N(0, I)

    (A common mistake: the last term is sigma_t times fresh noise z, not a constant shift by
    sigma_t.) t_prev = 0 is clean data (alpha_bar[0] = 1, sigma = 0). With clip_x0, x0_hat
    is clamped to [-1, 1] and eps is re-derived from it so x_t = sqrt(ab) x0_hat
    + sqrt(1 - ab) eps still holds (as improved-diffusion and diffusers'
    use_clipped_model_output=True do). eps, x_t, noise:
    (B, ...); t: int or int64 (B,) in 1..T; t_prev in 0..t-1. noise is required if eta > 0.
    Lesson 08.
    """
    check_bool(clip_x0, "clip_x0")
    t = check_steps(t, "t", 1, s.T, batch=check_floating(x_t, "x_t").shape[0])
    t_prev = check_steps(t_prev, "t_prev", 0, s.T - 1, batch=x_t.shape[0])
    if bool((t_prev >= t).any()):
        raise ValueError("t_prev must be smaller than t (in 0..t-1)")
    sigma = ddim_sigma(s, t, t_prev, eta)  # Eq. 16, float64 (B,); checks eta
    dir_var = 1 - s.alpha_bar[t_prev] - sigma**2
    if bool((dir_var < -1e-12).any()):
        raise ValueError(
            f"eta={eta} is too large: 1 - alpha_bar_prev - sigma^2 < 0 on this step"
        )
    x0_hat = x0_from_eps(s, x_t, t.to(x_t.device), eps)  # Eq. 12, "predicted x_0"
    if clip_x0:
        x0_hat = x0_hat.clamp(-1, 1)
        eps = (x_t - gather(s.alpha_bar.sqrt(), t, x_t) * x0_hat) / gather(
            (1 - s.alpha_bar).sqrt(), t, x_t
        )
    shape = (-1, *([1] * (x_t.ndim - 1)))
    x_prev = (
        gather(s.alpha_bar.sqrt(), t_prev, x_t) * x0_hat
        + dir_var.clamp(min=0).sqrt().to(x_t).reshape(shape) * eps
    )  # Eq. 12, "direction to x_t"
    if eta > 0 and bool((sigma > 0).any()):
        if noise is None or noise.shape != x_t.shape:
            raise ValueError(
                f"noise must be a tensor of shape {tuple(x_t.shape)} when eta > 0"
            )
        x_prev = x_prev + sigma.to(x_t).reshape(shape) * noise  # Eq. 12, "random noise"
    return x_prev


def _grid(s: Schedule, steps: int, spacing: str, timesteps) -> Tensor:
    if timesteps is not None:
        return check_grid(timesteps, s.T)
    return ddim_timesteps(s.T, steps, spacing=spacing)


@torch.no_grad()
def sample_ddim(
    eps_theta: EpsModel,
    s: Schedule,
    x_T: Tensor,
    *,
    steps: int = 50,
    eta: float = 0.0,
    spacing: str = "leading",
    timesteps: Iterable[int] | Tensor | None = None,
    clip_x0: bool = False,
    generator: torch.Generator | None = None,
    progress: bool = True,
    return_trajectory: bool = False,
):
    """DDIM sampling over a descending grid tau_1 > ... > tau_S, then to t = 0 (Song et al. 2021a, Eq. 12).

    Each step calls eps_theta once at tau_i and moves to tau_{i+1} (the last to t = 0, clean
    data) with `ddim_step`; eta = 0 is the deterministic DDIM, a first-order solver of the
    probability-flow ODE (Eq. 14). The grid is `ddim_timesteps(T, steps, spacing=spacing)`
    unless `timesteps` (strictly descending, in 1..T) is given. Fresh noise is drawn only when
    eta > 0 and the step is not the last. Returns x_0 or (x_0, trajectory). Lesson 08.
    """
    check_samples(x_T, "x_T")
    eta = _check_eta(eta)
    check_bool(return_trajectory, "return_trajectory")
    grid = _grid(s, steps, spacing, timesteps)
    prev = torch.cat([grid[1:], grid.new_zeros(1)])  # ends at t = 0
    eps_theta, check_later_outputs = watch_model(eps_theta, "eps_theta")
    x, traj = x_T, {"t": [], "x_t": [], "x0_hat": []}
    for t, t_prev in _progress(
        list(zip(grid.tolist(), prev.tolist())), disable=not progress
    ):
        tt = torch.full((x.shape[0],), t, dtype=torch.int64, device=x.device)
        eps = eps_theta(x, tt)
        z = randn_like(x, generator) if eta > 0 and t_prev > 0 else None
        if return_trajectory:
            x0_hat = x0_from_eps(s, x, tt, eps)
            (
                traj["t"].append(t),
                traj["x_t"].append(x),
                traj["x0_hat"].append(x0_hat.clamp(-1, 1) if clip_x0 else x0_hat),
            )
        x = ddim_step(s, eps, x, t, t_prev, eta=eta, noise=z, clip_x0=clip_x0)
    check_later_outputs()  # one host read: did eps_theta return NaN or inf on the way?
    return (x, traj) if return_trajectory else x


@torch.no_grad()
def ddim_invert(
    eps_theta: EpsModel,
    s: Schedule,
    x_0: Tensor,
    *,
    steps: int = 50,
    spacing: str = "leading",
    timesteps: Iterable[int] | Tensor | None = None,
    progress: bool = True,
) -> Tensor:
    """DDIM inversion: run the eta = 0 update forward, x_0 -> x_T (Song et al. 2021a, Sec. 4.3 / Eq. 13).

    On the ascending grid 0 = t_prev < tau_S < ... < tau_1 each step is
        eps    = eps_theta(x_{t_prev}, t)        (the model at the target t, as diffusers'
                                                  DDIMInverseScheduler: there is no model at t = 0)
        x0_hat = (x_{t_prev} - sqrt(1 - alpha_bar_prev) eps) / sqrt(alpha_bar_prev)
        x_t    = sqrt(alpha_bar_t) x0_hat + sqrt(1 - alpha_bar_t) eps
    Evaluating eps one step early is a first-order error, so sample_ddim(ddim_invert(x_0))
    returns x_0 up to an error that shrinks like 1/steps. Returns x_T of x_0's shape. Lesson 08.
    """
    check_samples(x_0, "x_0")
    grid = _grid(s, steps, spacing, timesteps).flip(0)  # ascending
    prev = torch.cat([grid.new_zeros(1), grid[:-1]])
    eps_theta, check_later_outputs = watch_model(eps_theta, "eps_theta")
    x = x_0
    for t_prev, t in _progress(
        list(zip(prev.tolist(), grid.tolist())), disable=not progress
    ):
        tt = torch.full((x.shape[0],), t, dtype=torch.int64, device=x.device)
        eps = eps_theta(x, tt)
        ab_prev, ab = s.alpha_bar[t_prev].item(), s.alpha_bar[t].item()
        x0_hat = (x - math.sqrt(1 - ab_prev) * eps) / math.sqrt(ab_prev)
        x = (
            math.sqrt(ab) * x0_hat + math.sqrt(1 - ab) * eps
        )  # Eq. 12 with sigma = 0, run upwards
    check_later_outputs()
    return x


# ---------------------------------------------------------------------------- latents
def slerp(z0: Tensor, z1: Tensor, alpha: float | Tensor) -> Tensor:
    """Spherical linear interpolation between two latents (Shoemake 1985; DDIM Sec. 5.3).

        theta = arccos(<z0, z1> / (|z0| |z1|))
        slerp = sin((1 - alpha) theta) / sin(theta) z0 + sin(alpha theta) / sin(theta) z1

    z0, z1: tensors of the same shape S, each treated as one vector. alpha: a float or 0-d
    tensor gives shape S; a 1-D tensor of N values gives (N, *S). Where z0 and z1 are
    (anti)parallel, sin(theta) ~ 0 and this falls back to the linear (1 - alpha) z0 + alpha z1.
    Gaussian latents have norm ~ sqrt(D); slerp keeps it, a straight line would shrink it.
    Lesson 08.
    """
    check_floating(z0, "z0")
    check_floating(z1, "z1")
    if z0.shape != z1.shape:
        raise ValueError(
            f"z0 and z1 must have the same shape, got {tuple(z0.shape)} and {tuple(z1.shape)}"
        )
    if isinstance(alpha, bool) or not isinstance(alpha, (numbers.Real, Tensor)):
        raise ArgTypeError(f"alpha must be a float or a 1-D tensor, got {alpha!r}")
    a = torch.as_tensor(alpha, dtype=torch.float64)
    if a.ndim > 1:
        raise ValueError(
            f"alpha must be a float or a 1-D tensor, got shape {tuple(a.shape)}"
        )
    if not bool(torch.isfinite(a).all()):
        raise ValueError(f"alpha must be finite, got {alpha!r}")
    u0, u1 = z0.double().flatten(), z1.double().flatten()
    if not (u0.norm() > 0 and u1.norm() > 0 and u0.norm() * u1.norm() < math.inf):
        raise ValueError(
            "z0 and z1 must be finite and nonzero: slerp needs their directions"
        )
    cos = (u0 @ u1 / (u0.norm() * u1.norm())).clamp(-1, 1)
    theta = torch.arccos(cos)
    aa = a.reshape(-1, *([1] * z0.ndim)) if a.ndim == 1 else a  # (N, 1, ..., 1) or ()
    if float(theta.sin()) < 1e-6:
        out = (1 - aa) * z0.double() + aa * z1.double()
    else:
        out = (
            torch.sin((1 - aa) * theta) * z0.double()
            + torch.sin(aa * theta) * z1.double()
        ) / theta.sin()
    return out.to(z0.dtype)
