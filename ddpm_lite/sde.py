"""The continuous-time view: VP and VE SDEs, the reverse SDE, the probability-flow ODE.

Song et al. 2021b ("Score-Based Generative Modeling through Stochastic Differential
Equations") let the number of steps go to infinity: the forward process becomes
dx = f(x, t) dt + g(t) dw on t in [0, 1] (Eq. 5). It is undone by the reverse-time SDE
(Anderson 1982; Song et al. Eq. 6) or, with the same marginals p_t, by the deterministic
probability-flow ODE (Eq. 13). Both need only the score grad_x log p_t(x) = -eps / std(t).

Conventions: DDPM step t of T sits at continuous time t / T (`step_to_time`). A score
function is called as score_fn(x, t), x of shape (B, ...), t float64 of shape (B,).
Solvers run from t = 1 down to a small t_eps > 0, and check what score_fn returns as the
discrete samplers check eps_theta (`_checks.watch_model`). Derived in lesson 10.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ._checks import (
    ArgTypeError,
    check_choice,
    check_floating,
    check_model_output,
    check_positive_int,
    check_real,
    check_samples,
    check_steps,
    check_timesteps,
    watch_model,
)
from ._noise import randn_like
from .oracle import GaussianMixture
from .schedule import Schedule, gather

ScoreFn = Callable[[Tensor, Tensor], Tensor]
ODE_METHODS = ("euler", "heun", "rk45")


def _as_time(t: Tensor | float, name: str = "t") -> Tensor:
    """t as a float64 tensor, checked to lie in [0, 1]."""
    if isinstance(t, (bool, str)) or (
        isinstance(t, Tensor) and (t.dtype == torch.bool or t.is_complex())
    ):
        raise ArgTypeError(
            f"{name} must be a float or a real tensor in [0, 1], got {t!r}"
        )
    t = torch.as_tensor(t, dtype=torch.float64)
    if t.numel() and not bool(((t >= 0) & (t <= 1)).all()):
        raise ValueError(
            f"{name} must be in [0, 1], got values in [{float(t.min())}, {float(t.max())}]"
        )
    return t


def _bcast(c: Tensor, x: Tensor) -> Tensor:
    """A coefficient of shape () or (B,) as (B, 1, ..., 1), in x's dtype and device."""
    c = c.to(device=x.device, dtype=x.dtype)
    return c.reshape(-1, *([1] * (x.ndim - 1))) if c.ndim else c


@dataclass(frozen=True)
class VPSDE:
    """The variance-preserving SDE, the continuous limit of DDPM (Song et al. 2021b, Eq. 11).

        dx = -1/2 beta(t) x dt + sqrt(beta(t)) dw,   beta(t) = beta_min + t (beta_max - beta_min)

    Its perturbation kernel is p_0t(x_t | x_0) = N(m(t) x_0, std(t)^2 I) (Appendix B), with
        m(t) = exp(-1/4 t^2 (beta_max - beta_min) - 1/2 t beta_min),   std(t)^2 = 1 - m(t)^2
    so m(t)^2 plays the part of alpha_bar_t. Prior p_1 ~ N(0, I). Lesson 10.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    prior_std = 1.0

    def __post_init__(self) -> None:
        check_real(self.beta_min, "beta_min", 0.0, open_low=True)
        check_real(self.beta_max, "beta_max", 0.0, open_low=True)
        if not 0 < self.beta_min <= self.beta_max < math.inf:
            raise ValueError(
                f"beta_min, beta_max must satisfy 0 < beta_min <= beta_max, got "
                f"beta_min={self.beta_min!r}, beta_max={self.beta_max!r}"
            )

    @classmethod
    def from_schedule(cls, s: Schedule) -> VPSDE:
        """The VP SDE that DDPM's linear schedule discretises with step 1/T (Song et al. Sec. 3.4).

            beta_min = T beta_1,   beta_max = T beta_T      (0.1 and 20 for Ho et al.'s schedule)

        The chain x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) z (Eq. 10) is then an
        Euler-Maruyama step of Eq. 11 at time t / T, up to O(beta_t^2) per step.
        """
        beta = s.beta[1:]
        if s.T < 2 or not torch.allclose(
            beta,
            torch.linspace(float(beta[0]), float(beta[-1]), s.T, dtype=torch.float64),
            rtol=1e-9,
            atol=0,
        ):
            raise ValueError(
                "s must be a linear schedule with T >= 2 (see linear_schedule)"
            )
        return cls(beta_min=s.T * float(beta[0]), beta_max=s.T * float(beta[-1]))

    def beta(self, t: Tensor | float) -> Tensor:
        """beta(t) = beta_min + t (beta_max - beta_min), float64."""
        return self.beta_min + _as_time(t) * (self.beta_max - self.beta_min)

    def drift(self, x: Tensor, t: Tensor | float) -> Tensor:
        """f(x, t) = -1/2 beta(t) x (Eq. 11); t a float or of shape (B,)."""
        return -0.5 * _bcast(self.beta(t), x) * x

    def diffusion(self, t: Tensor | float) -> Tensor:
        """g(t) = sqrt(beta(t)) (Eq. 11), float64."""
        return self.beta(t).sqrt()

    def marginal(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        """(m(t), std(t)) of p_0t(x_t | x_0) = N(m(t) x_0, std(t)^2 I), float64."""
        t = _as_time(t)
        log_m = -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min
        return log_m.exp(), (-torch.expm1(2 * log_m)).sqrt()  # std^2 = 1 - m^2


@dataclass(frozen=True)
class VESDE:
    """The variance-exploding SDE, the continuous limit of NCSN (Song et al. 2021b, Eq. 9).

        dx = sqrt(d[sigma(t)^2]/dt) dw,   sigma(t) = sigma_min (sigma_max / sigma_min)^t
        so f = 0 and g(t) = sigma(t) sqrt(2 log(sigma_max / sigma_min))

    p_0t(x_t | x_0) = N(x_0, (sigma(t)^2 - sigma(0)^2) I): mean coefficient 1 and
    std(t) = sqrt(sigma(t)^2 - sigma_min^2) (Song et al.'s code uses sigma(t), dropping
    sigma_min^2). Prior p_1 ~ N(0, sigma_max^2 I). Lessons 09-10.
    """

    sigma_min: float = 0.01
    sigma_max: float = 50.0

    def __post_init__(self) -> None:
        check_real(self.sigma_min, "sigma_min", 0.0, open_low=True)
        check_real(self.sigma_max, "sigma_max", 0.0, open_low=True)
        if not 0 < self.sigma_min < self.sigma_max < math.inf:
            raise ValueError(
                f"sigma_min, sigma_max must satisfy 0 < sigma_min < sigma_max, got "
                f"sigma_min={self.sigma_min!r}, sigma_max={self.sigma_max!r}"
            )

    @property
    def prior_std(self) -> float:
        return self.sigma_max

    def sigma(self, t: Tensor | float) -> Tensor:
        """sigma(t) = sigma_min (sigma_max / sigma_min)^t, float64."""
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** _as_time(t)

    def drift(self, x: Tensor, t: Tensor | float) -> Tensor:
        """f(x, t) = 0 (Eq. 9)."""
        _as_time(t)
        return torch.zeros_like(x)

    def diffusion(self, t: Tensor | float) -> Tensor:
        """g(t) = sigma(t) sqrt(2 log(sigma_max / sigma_min)), float64."""
        return self.sigma(t) * math.sqrt(2 * math.log(self.sigma_max / self.sigma_min))

    def marginal(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        """(1, sqrt(sigma(t)^2 - sigma_min^2)), float64."""
        sigma = self.sigma(t)
        return torch.ones_like(sigma), (sigma**2 - self.sigma_min**2).clamp(
            min=0
        ).sqrt()


SDE = VPSDE | VESDE


def prior_sample(
    sde: SDE,
    shape: tuple[int, ...],
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """x_1 ~ N(0, prior_std^2 I), the SDE's prior p_1, of shape (B, ...) with B >= 1."""
    if not isinstance(shape, (tuple, list, torch.Size)) or not shape:
        raise ArgTypeError(f"shape must be a tuple (B, ...) of ints, got {shape!r}")
    for i, n in enumerate(shape):
        check_positive_int(n, f"shape[{i}]")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ArgTypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    return sde.prior_std * torch.randn(shape, generator=generator, dtype=dtype)


def prior_log_prob(sde: SDE, x: Tensor) -> Tensor:
    """log N(x; 0, prior_std^2 I) summed over all but the batch dimension, shape (B,)."""
    check_samples(x, "x", finite=False)
    x = x.reshape(x.shape[0], -1).double()
    var = sde.prior_std**2
    return -0.5 * (x**2 / var + math.log(2 * math.pi * var)).sum(1)


def step_to_time(t: Tensor | int, T: int) -> Tensor:
    """Continuous time t / T of DDPM step t in 0..T, float64 (step 0 = clean data = time 0)."""
    check_positive_int(T, "T")
    check_steps(t, "t", 0, T)
    return torch.as_tensor(t, dtype=torch.float64) / T


def time_to_step(t: Tensor | float, T: int) -> Tensor:
    """The nearest DDPM step round(t T), clamped to 1..T, int64 (inverse of `step_to_time`)."""
    check_positive_int(T, "T")
    return torch.round(_as_time(t) * T).clamp(1, T).to(torch.int64)


def score_from_eps(
    eps: Tensor, s_or_std: Schedule | Tensor | float, t: Tensor | None = None
) -> Tensor:
    """The score from a noise prediction: grad_x log p_t(x) = -eps / std.

        discrete chain: score = -eps / sqrt(1 - alpha_bar_t)   (pass the Schedule and int64 t)
        an SDE:         score = -eps / std(t)                   (pass std, e.g. sde.marginal(t)[1])

    Tweedie's formula; Ho et al. 2020, Sec. 3.2 note that eps_theta is a scaled score.
    std: float or shape () or (B,), > 0. Note the score is grad log p, not grad p.
    """
    check_floating(eps, "eps")
    if isinstance(s_or_std, Schedule):
        if t is None:
            raise ValueError(
                "t (int64 steps in 1..T) is required when s_or_std is a Schedule"
            )
        check_timesteps(t, s_or_std.T, batch=eps.shape[0])
        std = gather((1 - s_or_std.alpha_bar).sqrt(), t, eps)
    else:
        if isinstance(s_or_std, bool) or not isinstance(
            s_or_std, (numbers.Real, Tensor)
        ):
            raise ArgTypeError(
                "s_or_std must be a Schedule, a float or a tensor, got "
                f"{s_or_std!r:.60}"
            )
        std = _bcast(torch.as_tensor(s_or_std, dtype=torch.float64), eps)
    if not bool(((std > 0) & (std < math.inf)).all()):
        raise ValueError(
            "s_or_std must be finite and > 0 (std(t) vanishes at t = 0: stop at "
            "t_eps > 0)"
        )
    return -eps / std


def score_fn_from_eps_theta(
    eps_theta: Callable[[Tensor, Tensor], Tensor], s: Schedule
) -> ScoreFn:
    """A continuous-time score function from a discrete eps_theta(x_t, t) trained on schedule s.

        score(x, t) = -eps_theta(x, n) / sqrt(1 - alpha_bar_n),   n = round(t T) in 1..T

    The nearest step rather than a fractional t T: a checkpoint has only seen integer steps
    (Song et al.'s code feeds the fractional label t (T - 1) instead). Dividing by the discrete
    sqrt(1 - alpha_bar_n) keeps the score exact for the chain; the SDE's std(t) differs by O(1/T).
    """

    # The first call is checked in full; a NaN later shows in the sampler's own check.
    model, _ = watch_model(eps_theta, "eps_theta", track=False)

    def score_fn(x: Tensor, t: Tensor) -> Tensor:
        n = time_to_step(t, s.T).to(x.device).expand(x.shape[0])
        return score_from_eps(model(x, n), s, n.cpu())

    return score_fn


def noised_mixture(gm: GaussianMixture, sde: SDE, t: float) -> GaussianMixture:
    """p_t for data x_0 ~ gm: a mixture with means m(t) mu_k, stds sqrt(m(t)^2 sigma_k^2 + std(t)^2)."""
    m, std = (float(c) for c in sde.marginal(float(t)))
    return GaussianMixture(
        m * gm.means, (m**2 * gm.stds**2 + std**2).sqrt(), gm.weights
    )


def mixture_score_fn(gm: GaussianMixture, sde: SDE) -> ScoreFn:
    """The exact score of p_t at continuous time for data x_0 ~ gm (the oracle of lesson 04).

        V_k = m(t)^2 sigma_k^2 + std(t)^2,  r_k(x) = softmax_k[log w_k + log N(x; m(t) mu_k, V_k)]
        grad_x log p_t(x) = sum_k r_k(x) (m(t) mu_k - x) / V_k

    Works for any SDE with a Gaussian kernel (VP and VE). Differentiable in x; the exact
    eps is -std(t) times this score (`mixture_eps_fn`).
    """

    def score_fn(x: Tensor, t: Tensor) -> Tensor:
        check_samples(x, "x", finite=False)
        if math.prod(x.shape[1:]) != gm.dim:
            raise ValueError(
                f"x must hold D={gm.dim} values per point, got {tuple(x.shape)}"
            )
        t = torch.as_tensor(t, dtype=torch.float64)
        t = t[:1] if t.ndim == 1 and bool((t == t[0]).all()) else t  # one time: (1,)
        m, std = (
            c.to(x.device).reshape(-1, 1, 1) for c in sde.marginal(t)
        )  # (B or 1, 1, 1)
        means, stds, w = (v.to(x.device) for v in (gm.means, gm.stds, gm.weights))
        x64 = x.double().reshape(x.shape[0], 1, -1)  # (B, 1, D)
        mean, var = m * means, m**2 * stds**2 + std**2  # (B, K, D)
        log_joint = w.log() - 0.5 * ((x64 - mean) ** 2 / var + var.log()).sum(
            -1
        )  # (B, K)
        r = (log_joint - log_joint.amax(-1, keepdim=True)).exp()  # softmax_k by hand:
        r = (r / r.sum(-1, keepdim=True)).unsqueeze(-1)  # torch's stalls on tiny
        return (r * (mean - x64) / var).sum(1).reshape(x.shape).to(x.dtype)

    return score_fn


def mixture_eps_fn(gm: GaussianMixture, sde: SDE) -> ScoreFn:
    """The exact E[eps | x_t] at continuous time: eps(x, t) = -std(t) grad_x log p_t(x)."""
    score_fn = mixture_score_fn(gm, sde)
    return lambda x, t: -_bcast(sde.marginal(t)[1], x) * score_fn(x, t)


def _check_grid(steps: int, t_eps: float, t_start: float = 1.0) -> Tensor:
    """The uniform grid t_start = t_0 > t_1 > ... > t_steps = t_eps, float64 (steps + 1,)."""
    check_positive_int(steps, "steps")
    check_real(t_eps, "t_eps", 0.0, 1.0, open_low=True, open_high=True)
    if isinstance(t_start, bool) or not isinstance(t_start, numbers.Real):
        raise ArgTypeError(f"t_start must be a number in (t_eps, 1], got {t_start!r}")
    if not t_eps < t_start <= 1:
        raise ValueError(
            f"t_start must be in (t_eps, 1] = ({t_eps}, 1], got {t_start!r}"
        )
    return torch.linspace(t_start, t_eps, steps + 1, dtype=torch.float64)


@torch.no_grad()
def sample_reverse_sde(
    score_fn: ScoreFn,
    sde: SDE,
    x_T: Tensor,
    *,
    steps: int,
    t_eps: float = 1e-3,
    t_start: float = 1.0,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> Tensor:
    """Euler-Maruyama on the reverse-time SDE (Anderson 1982; Song et al. 2021b, Eq. 6).

        dx = [f(x, t) - g(t)^2 grad_x log p_t(x)] dt + g(t) dw_bar,   t from t_start (1) down to t_eps

    On the uniform grid t_0 = t_start > ... > t_N = t_eps, with h = t_i - t_{i+1} > 0:
        x <- x - [f(x, t_i) - g(t_i)^2 score(x, t_i)] h + g(t_i) sqrt(h) z,   z ~ N(0, I)
    The last step adds no noise (it returns the mean, as Song et al.'s code does).
    x_T: (B, ...), a draw of the prior (`prior_sample`), or with t_start < 1 a draw of p_{t_start}
    (say a data point noised by `sde.marginal(t_start)`, to start part-way as SDEdit does).
    Returns x at t_eps. Lesson 10.
    """
    check_samples(x_T, "x_T")
    ts = _check_grid(steps, t_eps, t_start)
    score_fn, check_later_outputs = watch_model(score_fn, "score_fn")
    x = x_T
    for i in tqdm(range(steps), disable=not progress):
        t, h = ts[i].expand(x.shape[0]), float(ts[i] - ts[i + 1])
        g = _bcast(sde.diffusion(ts[i]), x)
        x = x - (sde.drift(x, t) - g**2 * score_fn(x, t)) * h  # Eq. 6, drift
        if i < steps - 1:
            z = randn_like(x, generator)
            x = x + g * math.sqrt(h) * z  # Eq. 6, noise
    check_later_outputs()  # one host read: did score_fn return NaN or inf on the way?
    return x


def pf_ode_drift(score_fn: ScoreFn, sde: SDE, x: Tensor, t: Tensor | float) -> Tensor:
    """The probability-flow ODE's velocity (Song et al. 2021b, Eq. 13).

        dx/dt = f(x, t) - 1/2 g(t)^2 grad_x log p_t(x)

    Its solutions carry p_t to p_s for all s, t, exactly as the forward SDE does.
    x: (B, ...); t: a float or float64 of shape (B,). Returns x's shape.
    """
    t = _as_time(t).to(check_floating(x, "x").device)
    t = t.expand(x.shape[0]) if t.ndim == 0 else t
    score = check_model_output(score_fn(x, t), x, "score_fn", finite=False)
    return sde.drift(x, t) - 0.5 * _bcast(sde.diffusion(t) ** 2, x) * score  # Eq. 13


def solve_ivp_torch(
    fun: Callable[[float, Tensor], Tensor],
    y0: Tensor,
    t_span: tuple[float, float],
    *,
    rtol: float,
    atol: float,
) -> tuple[Tensor, int]:
    """scipy's adaptive RK45 (Dormand-Prince 5(4)) on a torch state of any shape.

    fun(t, y) -> dy/dt with y of y0's shape. Returns (y at t_span[1], number of fun calls).
    """
    from scipy.integrate import solve_ivp  # test/lesson extra

    shape, dtype, device = y0.shape, y0.dtype, y0.device

    def f(t: float, y):
        y = torch.from_numpy(y).to(device=device, dtype=dtype).reshape(shape)
        return fun(t, y).reshape(-1).detach().double().cpu().numpy()

    sol = solve_ivp(
        f,
        t_span,
        y0.reshape(-1).detach().double().cpu().numpy(),
        method="RK45",
        rtol=rtol,
        atol=atol,
    )
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return torch.from_numpy(sol.y[:, -1]).to(device=device, dtype=dtype).reshape(
        shape
    ), sol.nfev


@torch.no_grad()
def sample_pf_ode(
    score_fn: ScoreFn,
    sde: SDE,
    x_T: Tensor,
    *,
    method: str = "heun",
    steps: int = 100,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    t_eps: float = 1e-3,
    t_start: float = 1.0,
    progress: bool = True,
) -> tuple[Tensor, int]:
    """Solve the probability-flow ODE (Eq. 13) from t = t_start (default 1) down to t_eps.

    method="euler":  x <- x + h d(x, t_i),                  h = t_{i+1} - t_i < 0
    method="heun":   x' = x + h d(x, t_i);  x <- x + h/2 [d(x, t_i) + d(x', t_{i+1})]
                     (2nd order; the trapezoid step of Karras et al. 2022, Alg. 1)
    method="rk45":   scipy's adaptive Dormand-Prince with rtol, atol ("steps" unused)
    on the uniform grid of `steps` steps. x_T is a draw of p_{t_start}: the prior for t_start = 1.
    Returns (x at t_eps, number of score evaluations).
    """
    check_choice(method, ODE_METHODS, "method")
    check_samples(x_T, "x_T")
    ts = _check_grid(steps, t_eps, t_start)
    check_real(rtol, "rtol", 0.0, open_low=True)
    check_real(atol, "atol", 0.0, open_low=True)
    score_fn, check_later_outputs = watch_model(score_fn, "score_fn")
    if method == "rk45":
        try:
            return solve_ivp_torch(
                lambda t, x: pf_ode_drift(score_fn, sde, x, t),
                x_T,
                (t_start, t_eps),
                rtol=rtol,
                atol=atol,
            )
        finally:  # a NaN makes the solver fail: name it rather than the failure
            check_later_outputs()
    x = x_T
    for i in tqdm(range(steps), disable=not progress):
        h = float(ts[i + 1] - ts[i])
        d = pf_ode_drift(score_fn, sde, x, ts[i])
        x_next = x + h * d  # Euler
        if method == "heun":
            x_next = x + 0.5 * h * (d + pf_ode_drift(score_fn, sde, x_next, ts[i + 1]))
        x = x_next
    check_later_outputs()  # one host read: did score_fn return NaN or inf on the way?
    return x, steps * (2 if method == "heun" else 1)
