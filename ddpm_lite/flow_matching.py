"""Flow matching on the straight path between data and noise (rectified flow), and the v-parameterisation.

Convention (the course's, time runs towards noise as in DDPM): t in [0, 1],

    x_t = (1 - t) x_0 + t eps,      x_0 data at t = 0,  eps ~ N(0, I) at t = 1,

so the conditional velocity is dx_t/dt = eps - x_0 and sampling integrates dx/dt = v(x, t)
from t = 1 down to t = 0. Lipman et al. 2023 and Liu et al. 2023 both run time the other
way, noise at t = 0 and data at t = 1, so their velocity is x_0 - eps and their t is our
1 - t; Liu et al. call this straight path "rectified flow". Lesson 13.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ._checks import (
    ArgTypeError,
    check_bool,
    check_choice,
    check_floating,
    check_model_output,
    check_positive_int,
    check_real,
    check_same_shape,
    check_samples,
    watch_model,
)
from .oracle import GaussianMixture

VelocityFn = Callable[
    [Tensor, Tensor], Tensor
]  # v_theta(x_t, t), t float of shape (B,)


def _t_like(
    t: Tensor | float,
    x: Tensor,
    *,
    low: float = 0.0,
    high: float = 1.0,
    name: str = "x_t",
) -> Tensor:
    """t as a float tensor broadcastable against x: () or (B,) -> (B, 1, ..., 1); checks low <= t <= high."""
    check_floating(x, name)
    if isinstance(t, bool) or (isinstance(t, Tensor) and t.dtype == torch.bool):
        raise ArgTypeError(
            f"t must be a float or a tensor in [{low}, {high}], got {t!r}"
        )
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    if (
        t.ndim > 1
        or (t.ndim == 1 and t.shape[0] != x.shape[0])
        or not bool(((t >= low) & (t <= high)).all())
    ):
        raise ValueError(
            f"t must be a float or a ({x.shape[0]},) tensor with {low} <= t <= {high}, got {t}"
        )
    return t.reshape(-1, *([1] * (x.ndim - 1))) if t.ndim else t


def interpolant(x_0: Tensor, eps: Tensor, t: Tensor | float) -> Tensor:
    """x_t = (1 - t) x_0 + t eps, the straight path of rectified flow (Liu et al. 2023), t of shape () or (B,)."""
    check_same_shape(x_0=x_0, eps=eps)
    t = _t_like(t, x_0, name="x_0")
    return (1 - t) * x_0 + t * eps


def velocity_target(x_0: Tensor, eps: Tensor) -> Tensor:
    """The conditional velocity d x_t / dt = eps - x_0, the regression target of flow matching."""
    check_same_shape(x_0=x_0, eps=eps)
    return eps - x_0


def fm_loss(
    v_theta: VelocityFn, x_0: Tensor, *, generator: torch.Generator | None = None
) -> Tensor:
    """The conditional flow matching loss of Lipman et al. 2023, on the straight path:

        t ~ U(0, 1),  eps ~ N(0, I):   mean || v_theta(x_t, t) - (eps - x_0) ||^2

    Its minimiser is the marginal velocity u(x, t) = E[eps - x_0 | x_t = x] (their Theorem 2).
    v_theta must return x_t's shape; a NaN or inf it returns shows in the loss (as in
    `loss_simple`, nothing is read back per step).
    """
    check_samples(x_0, "x_0", finite=False)
    t = torch.rand(x_0.shape[0], generator=generator).to(x_0)
    eps = torch.randn(x_0.shape, generator=generator).to(x_0)
    x_t = interpolant(x_0, eps, t)
    v = check_model_output(v_theta(x_t, t), x_t, "v_theta", finite=False)
    return (v - velocity_target(x_0, eps)).pow(2).mean()


# ---------------------------------------------------------------------------- parameterisations
def x0_from_velocity(x_t: Tensor, t: Tensor | float, v: Tensor) -> Tensor:
    """x_0 = x_t - t v  (from x_t = x_0 + t (eps - x_0))."""
    check_same_shape(x_t=x_t, v=v)
    return x_t - _t_like(t, x_t) * v


def eps_from_velocity(x_t: Tensor, t: Tensor | float, v: Tensor) -> Tensor:
    """eps = x_t + (1 - t) v  (from x_t = eps - (1 - t)(eps - x_0))."""
    check_same_shape(x_t=x_t, v=v)
    return x_t + (1 - _t_like(t, x_t)) * v


def velocity_from_eps(x_t: Tensor, t: Tensor | float, eps: Tensor) -> Tensor:
    """v = (eps - x_t) / (1 - t), 0 <= t < 1: the velocity a noise prediction implies."""
    check_same_shape(x_t=x_t, eps=eps)
    return (eps - x_t) / (1 - _t_like(t, x_t, high=1 - 1e-12))


def v_from_eps_x0(
    alpha: Tensor | float, sigma: Tensor | float, eps: Tensor, x_0: Tensor
) -> Tensor:
    """The v-parameterisation of a VP path x = alpha x_0 + sigma eps (alpha^2 + sigma^2 = 1):

        v = alpha eps - sigma x_0 = dx/dphi  for alpha = cos(phi), sigma = sin(phi)

    Salimans & Ho 2022, Sec. 4.
    """
    check_same_shape(eps=eps, x_0=x_0)
    return alpha * eps - sigma * x_0


def x0_from_v(
    alpha: Tensor | float, sigma: Tensor | float, x_t: Tensor, v: Tensor
) -> Tensor:
    """x_0 = alpha x_t - sigma v  (needs alpha^2 + sigma^2 = 1)."""
    check_same_shape(x_t=x_t, v=v)
    return alpha * x_t - sigma * v


def eps_from_v(
    alpha: Tensor | float, sigma: Tensor | float, x_t: Tensor, v: Tensor
) -> Tensor:
    """eps = sigma x_t + alpha v  (needs alpha^2 + sigma^2 = 1)."""
    check_same_shape(x_t=x_t, v=v)
    return sigma * x_t + alpha * v


# ---------------------------------------------------------------------------- exact and sampled flows
def mixture_velocity(gm: GaussianMixture, x: Tensor, t: Tensor | float) -> Tensor:
    """The exact marginal velocity E[eps - x_0 | x_t = x] for x_0 from the mixture gm, 0 <= t <= 1.

        V_k = (1 - t)^2 sigma_k^2 + t^2,   r_k(x) = w_k N(x; (1 - t) mu_k, V_k) / p_t(x)
        E[eps | x, k] = t (x - (1 - t) mu_k) / V_k,   E[x_0 | x, k] = mu_k + (1 - t) sigma_k^2 (x - (1 - t) mu_k) / V_k
        u(x, t) = sum_k r_k (E[eps | x, k] - E[x_0 | x, k])

    x: (N, D); float64 result of shape (N, D). Lesson 13.
    """
    check_samples(x, "x", finite=False)
    if x.ndim != 2 or x.shape[1] != gm.dim:
        raise ValueError(f"x must have shape (N, D={gm.dim}), got {tuple(x.shape)}")
    x = x.double()
    t = _t_like(t, x, name="x")[..., None]  # (N or 1, 1, 1)
    diff = x[:, None] - (1 - t) * gm.means  # (N, K, D)
    var = (1 - t) ** 2 * gm.stds**2 + t**2  # (., K, D)
    log_r = gm.weights.log() - 0.5 * (diff**2 / var + var.log()).sum(-1)  # (N, K)
    r = log_r.softmax(1)[..., None]
    eps_k = t * diff / var
    x0_k = gm.means + (1 - t) * gm.stds**2 * diff / var
    return (r * (eps_k - x0_k)).sum(1)


@torch.no_grad()
def sample_flow(
    v_theta: VelocityFn,
    x_1: Tensor,
    *,
    steps: int = 50,
    method: str = "euler",
    t_end: float = 0.0,
    return_trajectory: bool = False,
):
    """Integrate dx/dt = v_theta(x, t) from t = 1 (noise x_1) down to t_end on a uniform grid.

    method="euler":  x <- x + h v(x, t_i),  h = t_{i+1} - t_i < 0  (steps evaluations)
    method="heun":   x' = x + h v(x, t_i);  x <- x + h/2 [v(x, t_i) + v(x', t_{i+1})]
                     (2nd order, 2 evaluations per step; Karras et al. 2022, Alg. 1)
    Returns x at t_end (and the list of states, x_1 first, if return_trajectory).
    """
    check_samples(x_1, "x_1")
    check_positive_int(steps, "steps")
    check_choice(method, ("euler", "heun"), "method")
    check_real(t_end, "t_end", 0.0, 1.0, open_high=True)
    check_bool(return_trajectory, "return_trajectory")
    ts = torch.linspace(1.0, t_end, steps + 1, dtype=torch.float64).tolist()
    v_theta, check_later_outputs = watch_model(v_theta, "v_theta")

    def times(t: float) -> Tensor:  # in x's dtype from the start: float64 runs keep 0.9
        return torch.full((x_1.shape[0],), t, dtype=x_1.dtype, device=x_1.device)

    x, traj = x_1, [x_1]
    for i in range(steps):
        h = ts[i + 1] - ts[i]
        d = v_theta(x, times(ts[i]))
        x_next = x + h * d  # Euler
        if method == "heun":
            d2 = v_theta(x_next, times(ts[i + 1]))
            x_next = x + 0.5 * h * (d + d2)
        x = x_next
        traj.append(x)
    check_later_outputs()  # one host read: did v_theta return NaN or inf on the way?
    return (x, traj) if return_trajectory else x


def as_step_model(net: nn.Module, T: int = 1000) -> VelocityFn:
    """A network of the package (which embeds a step 1..T) as v_theta(x, t) with t in [0, 1]: step = 1 + (T - 1) t."""
    check_positive_int(T, "T")
    return lambda x, t: net(x, 1 + (T - 1) * t)


def train_flow_matching(
    net: nn.Module,
    data: Tensor,
    *,
    steps: int,
    batch_size: int = 256,
    lr: float = 1e-3,
    T: int = 1000,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> list[float]:
    """Fit v_theta = as_step_model(net, T) to `data` (N, ...) with `fm_loss` and Adam; returns the losses.

    Minimal on purpose (no EMA, no warm-up): the lesson's 2-D miniature. Batches and noise are
    drawn from a generator seeded with `seed`.
    """
    check_samples(data, "data")
    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    check_real(lr, "lr", 0.0, open_low=True)
    g = torch.Generator().manual_seed(seed)
    net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=lr, foreach=True)  # as in train.train
    v_theta, losses = as_step_model(net, T), []
    for step in range(1, steps + 1):
        x_0 = data[torch.randint(len(data), (batch_size,), generator=g)].to(device)
        loss = fm_loss(v_theta, x_0, generator=g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(
                f"train_flow_matching: the loss is {losses[-1]} at step {step}"
            )
    net.eval()
    return losses
