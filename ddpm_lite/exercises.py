"""Checkers for the lessons' exercises: ``check("00-half", answer)`` says whether an answer is right.

The right answers are computed here from the package's own functions when a check runs;
none is stored. A checker prints a verdict (and a hint when the answer is wrong) and returns
True or False, so a lesson can ``assert`` it. Register one with ``@exercise("NN-name")``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .schedule import cosine_schedule, linear_schedule

Verdict = tuple[bool, str]
EXERCISES: dict[str, Callable[[object], Verdict]] = {}


def exercise(name: str):
    """Register the decorated function as the checker of exercise ``name``."""
    def register(checker: Callable[[object], Verdict]) -> Callable[[object], Verdict]:
        EXERCISES[name] = checker
        return checker
    return register


def check(exercise: str, answer: object) -> bool:
    """Check ``answer`` to the exercise named ``exercise`` (e.g. "00-half"); print and return the verdict."""
    if exercise not in EXERCISES:
        raise ValueError(f"exercise must be one of {sorted(EXERCISES)}, got {exercise!r}")
    if isinstance(answer, torch.Tensor) and answer.numel() == 1:
        answer = answer.item()
    ok, message = EXERCISES[exercise](answer)
    print(f"{exercise}: {message}")
    return ok


def _is_int(answer: object) -> bool:
    return isinstance(answer, int) and not isinstance(answer, bool)


def _is_number(answer: object) -> bool:
    return isinstance(answer, (int, float)) and not isinstance(answer, bool) and math.isfinite(answer)


def _first_step_at_or_below(alpha_bar: torch.Tensor, level: float) -> int:
    return int((alpha_bar <= level).nonzero()[0])  # index t of a T+1 table is the paper's t


def _step_verdict(answer: object, truth: int, hint: str) -> Verdict:
    if not _is_int(answer):
        return False, f"expected an integer step t, got {answer!r}"
    if answer == truth:
        return True, "correct"
    if abs(answer - truth) == 1:
        return False, "off by one: is index 0 of your tensor beta_1 or clean data?"
    return False, f"not yet: {hint}"


@exercise("00-half")
def _check_00_half(answer: object) -> Verdict:
    truth = _first_step_at_or_below(linear_schedule().alpha_bar, 0.5)
    return _step_verdict(answer, truth, "alpha_bar_t is the product of (1 - beta_s) for s = 1..t")


@exercise("01-cosine-half")
def _check_01_cosine_half(answer: object) -> Verdict:
    truth = _first_step_at_or_below(cosine_schedule().alpha_bar, 0.5)
    return _step_verdict(answer, truth, "use f(t) = cos^2(((t/T + s)/(1 + s)) pi/2) and alpha_bar_t = f(t)/f(0)")


@exercise("01-sum-beta")
def _check_01_sum_beta(answer: object) -> Verdict:
    truth = float(linear_schedule().beta.sum())
    if not _is_number(answer):
        return False, f"expected a number, got {answer!r}"
    if abs(answer - truth) <= 1e-6 * truth:
        return True, "correct"
    return False, "not yet: the betas rise linearly, so their sum is T times their average"


@exercise("01-variance")
def _check_01_variance(answer: object) -> Verdict:
    # answer: a function (alpha_bar, v) -> Var[x_t] for data of per-coordinate variance v.
    if not callable(answer):
        return False, "expected a function of (alpha_bar, v)"
    for alpha_bar, v in [(0.9, 0.25), (0.5, 1.0), (0.01, 4.0), (1.0, 2.0)]:
        truth = alpha_bar * v + (1 - alpha_bar)
        try:
            value = float(answer(alpha_bar, v))
        except Exception as error:  # the learner's function failed: say so, do not crash
            return False, f"your function raised {type(error).__name__}: {error}"
        if not abs(value - truth) <= 1e-9:
            return False, f"not yet: at alpha_bar = {alpha_bar}, v = {v} you give {value:.4g}"
    return True, "correct: and with v = 1 the variance is 1 at every t (variance preserving)"


@exercise("02-ratio")
def _check_02_ratio(answer: object) -> Verdict:
    # First t at which beta_tilde_t >= 0.99 beta_t for the paper's linear schedule.
    s = linear_schedule()
    ratio = s.beta_tilde[1:] / s.beta[1:]
    truth = int((ratio >= 0.99).nonzero()[0]) + 1
    return _step_verdict(answer, truth, "beta_tilde_t / beta_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)")


@exercise("02-eps-form")
def _check_02_eps_form(answer: object) -> Verdict:
    # answer: mu(x_t, eps, t, s) giving the posterior mean from x_t and the true noise.
    from .diffusion import q_posterior, q_sample

    if not callable(answer):
        return False, "expected a function mu(x_t, eps, t, s)"
    s = linear_schedule()
    generator = torch.Generator().manual_seed(0)
    x_0 = torch.randn(64, 3, generator=generator, dtype=torch.float64)
    eps = torch.randn(64, 3, generator=generator, dtype=torch.float64)
    t = torch.randint(1, s.T + 1, (64,), generator=generator)
    x_t = q_sample(s, x_0, t, eps)
    try:
        mu = torch.as_tensor(answer(x_t, eps, t, s), dtype=torch.float64)
    except Exception as error:  # the learner's function failed: say so, do not crash
        return False, f"your function raised {type(error).__name__}: {error}"
    truth, _ = q_posterior(s, x_0, x_t, t)
    if mu.shape == truth.shape and torch.allclose(mu, truth, rtol=1e-9, atol=1e-9):
        return True, "correct"
    return False, "not yet: substitute x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t) into mu_tilde"


def _close(answer: object, truth: float, rtol: float = 1e-4) -> bool:
    return _is_number(answer) and abs(answer - truth) <= rtol * abs(truth)


@exercise("03-kl")
def _check_03_kl(answer: object) -> Verdict:
    # KL( N(1, 0.5) || N(0, 2) ) in nats, the second argument of N being a variance.
    from .losses import normal_kl

    if not _is_number(answer):
        return False, f"expected a number (nats), got {answer!r}"
    v_1, v_2 = torch.tensor(0.5, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64)
    truth = float(normal_kl(torch.tensor(1.0, dtype=torch.float64), v_1.log(),
                            torch.tensor(0.0, dtype=torch.float64), v_2.log()))
    if _close(answer, truth):
        return True, "correct"
    if _close(answer, truth + 0.5 * math.log(2.0 / 0.5)):
        return False, "not yet: with variances, the log term is 1/2 log(v2 / v1); did you drop the 1/2?"
    if _close(answer, truth / math.log(2)):
        return False, "not yet: the answer is asked in nats, not bits"
    return False, "not yet: KL = 1/2 log(v2/v1) + (v1 + (mu1 - mu2)^2) / (2 v2) - 1/2"


@exercise("03-prior")
def _check_03_prior(answer: object) -> Verdict:
    # L_T in bits for one pixel at x_0 = 1 with the linear schedule shortened to T = 100.
    from .losses import prior_bpd

    if not _is_number(answer):
        return False, f"expected a number (bits), got {answer!r}"
    x_0 = torch.tensor([[1.0]], dtype=torch.float64)
    truth = float(prior_bpd(linear_schedule(T=100), x_0))
    if _close(answer, truth):
        return True, "correct: not negligible at all with T = 100"
    if _close(answer, truth * math.log(2)):
        return False, "not yet: that is in nats; divide by ln 2 for bits"
    if _close(answer, float(prior_bpd(linear_schedule(T=1000), x_0))):
        return False, "not yet: that is L_T for T = 1000; use linear_schedule(T=100)"
    return False, "not yet: L_T = 1/2 (-log(1 - ab) - ab + ab x_0^2) nats with ab = alpha_bar_T"


@exercise("03-decoder")
def _check_03_decoder(answer: object) -> Verdict:
    # Probability of the top level x_0 = 1 under a decoder with mean 0.98 and std 0.02.
    from .losses import discretized_gaussian_log_likelihood

    if not _is_number(answer):
        return False, f"expected a probability, got {answer!r}"
    mean, std = torch.tensor(0.98, dtype=torch.float64), 0.02
    one = torch.tensor(1.0, dtype=torch.float64)
    truth = float(discretized_gaussian_log_likelihood(one, mean, torch.tensor(math.log(std))).exp())
    if _close(answer, truth):
        return True, "correct"
    closed = float(torch.special.ndtr((one + 1 / 255 - mean) / std) - torch.special.ndtr((one - 1 / 255 - mean) / std))
    if _close(answer, closed):
        return False, "not yet: the top bin is open, [1 - 1/255, infinity), not [1 - 1/255, 1 + 1/255]"
    return False, "not yet: integrate N(0.98, 0.02^2) over the bin of x_0 = 1"


@exercise("04-weight")
def _check_04_weight(answer: object) -> Verdict:
    # The weight beta_t^2 / (2 sigma_t^2 alpha_t (1 - alpha_bar_t)) of Eq. 12 at t = 10, sigma_t^2 = beta_t.
    if not _is_number(answer):
        return False, f"expected a number, got {answer!r}"
    s, t = linear_schedule(), 10
    beta, alpha, alpha_bar = float(s.beta[t]), float(s.alpha[t]), float(s.alpha_bar[t])
    truth = beta**2 / (2 * beta * alpha * (1 - alpha_bar))
    if _close(answer, truth):
        return True, "correct"
    if _close(answer, beta**2 / (2 * beta * alpha_bar * (1 - alpha_bar))):
        return False, "not yet: the factor in the denominator is alpha_t, not alpha_bar_t"
    if _close(answer, beta**2 / (2 * float(s.beta_tilde[t]) * alpha * (1 - alpha_bar))):
        return False, "not yet: that is the weight for sigma_t^2 = beta_tilde_t; use sigma_t^2 = beta_t"
    return False, "not yet: lambda_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - alpha_bar_t))"


@exercise("04-reverse-var")
def _check_04_reverse_var(answer: object) -> Verdict:
    # Var(x_{t-1} | x_t) at t = 10 for 1-D data x_0 ~ N(0, 0.25), linear schedule.
    if not _is_number(answer):
        return False, f"expected a number, got {answer!r}"
    s, t, data_var = linear_schedule(), 10, 0.25
    v = float(s.alpha_bar[t - 1]) * data_var + 1 - float(s.alpha_bar[t - 1])      # Var(x_{t-1})
    beta, alpha = float(s.beta[t]), float(s.alpha[t])
    truth = v * beta / (alpha * v + beta)                                          # Gaussian conditioning
    if _close(answer, truth, rtol=1e-6):
        return True, "correct: between beta_tilde_t and beta_t, as it must be"
    if _close(answer, beta, rtol=1e-6):
        return False, "not yet: beta_t is the answer for data of variance 1, not 0.25"
    if _close(answer, float(s.beta_tilde[t]), rtol=1e-6):
        return False, "not yet: beta_tilde_t is the answer for data at a single point"
    return False, "not yet: condition the Gaussian pair (x_{t-1}, x_t) on x_t"


@exercise("04-score")
def _check_04_score(answer: object) -> Verdict:
    # answer: eps_star(x_t, t) for 1-D data x_0 ~ N(0, 0.25) with the linear schedule.
    from .oracle import GaussianMixture

    if not callable(answer):
        return False, "expected a function eps_star(x_t, t) of a tensor x_t (N, 1) and an int t"
    s = linear_schedule()
    oracle = GaussianMixture(torch.zeros(1, 1), torch.tensor([0.5]), torch.ones(1))
    x_t = torch.linspace(-3, 3, 13, dtype=torch.float64)[:, None]
    for t in (1, 10, 100, 1000):
        truth = oracle.eps_star(s, x_t, torch.full((13,), t))
        try:
            value = torch.as_tensor(answer(x_t, t), dtype=torch.float64)
        except Exception as error:  # the learner's function failed: say so, do not crash
            return False, f"your function raised {type(error).__name__}: {error}"
        if value.shape != truth.shape or not torch.allclose(value, truth, rtol=1e-9, atol=1e-12):
            return False, (f"not yet at t = {t}: eps_star = sqrt(1 - ab) x_t / (ab * 0.25 + 1 - ab), "
                           "the noise's share of x_t")
    return True, "correct"


@exercise("05-resblock")
def _check_05_resblock(answer: object) -> Verdict:
    # answer: n(c_in, c_out, e), the parameter count of a residual block without attention.
    from .unet import ResBlock

    if not callable(answer):
        return False, "expected a function n(c_in, c_out, e)"
    for c_in, c_out, e in [(64, 64, 256), (64, 128, 512), (96, 32, 128)]:
        block = ResBlock(c_in, c_out, emb_dim=e, dropout=0.0, groups=32, eps=1e-6)
        truth = sum(p.numel() for p in block.parameters())
        try:
            value = answer(c_in, c_out, e)
        except Exception as error:  # the learner's function failed: say so, do not crash
            return False, f"your function raised {type(error).__name__}: {error}"
        if value != truth:
            return False, f"not yet: for (c_in, c_out, e) = {(c_in, c_out, e)} you count {value}"
    return True, "correct"


@exercise("05-attention")
def _check_05_attention(answer: object) -> Verdict:
    truth = (32 * 32) ** 2 / (16 * 16) ** 2
    if not _is_number(answer):
        return False, f"expected a number, got {answer!r}"
    if answer == truth:
        return True, "correct"
    if answer == 4:
        return False, "not yet: 4 is the factor for the number of pixels; the matrix has pixels x pixels entries"
    return False, "not yet: the attention matrix has (H W)^2 entries"



# ---------------------------------------------------------------- lesson 09: scores and Langevin
@exercise("09-peak")
def _check_09_peak(answer: object) -> Verdict:
    # The largest std s of N(0, s^2 I) in 2-D whose density exceeds 1 somewhere (at its mean).
    from .oracle import GaussianMixture

    if not _is_number(answer):
        return False, f"expected a number (a standard deviation), got {answer!r}"
    origin = torch.zeros(1, 2, dtype=torch.float64)

    def log_peak(s: float) -> float:
        gm = GaussianMixture(torch.zeros(1, 2), torch.tensor([s]), torch.ones(1))
        return float(gm.log_prob(origin))

    lo, hi = 1e-3, 10.0                                  # log_peak falls with s: bisect for 0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if log_peak(mid) > 0 else (lo, mid)
    truth = (lo + hi) / 2
    if _close(answer, truth):
        return True, "correct: a narrower bump is taller than 1, and still integrates to 1"
    if _close(answer, truth**2):
        return False, "not yet: that is the variance s^2; the question asks for the std s"
    return False, "not yet: the density of N(0, s^2 I) in 2-D peaks at 1 / (2 pi s^2)"


def _ula_coefficient(s2: float, eps: float) -> float:
    """rho of one step of the package's Langevin sampler on N(0, s2): x_1 = rho x_0 + noise."""
    from .langevin import langevin

    def one_step(x0: float) -> float:
        x = torch.full((1, 1), x0, dtype=torch.float64)
        return float(langevin(lambda x: -x / s2, x, step_size=eps, n_steps=1,
                              generator=torch.Generator().manual_seed(0)))
    return one_step(1.0) - one_step(0.0)                 # same noise: the difference is rho


@exercise("09-ula-variance")
def _check_09_ula_variance(answer: object) -> Verdict:
    # answer: v(s2, eps), the stationary variance of unadjusted Langevin on N(0, s2) with step eps.
    if not callable(answer):
        return False, "expected a function v(s2, eps)"
    for s2, eps in [(1.0, 0.1), (0.09, 0.09), (4.0, 0.5), (0.25, 1e-3)]:
        rho = _ula_coefficient(s2, eps)
        truth = eps / (1 - rho**2)                       # fixed point of v = rho^2 v + eps
        try:
            value = float(answer(s2, eps))
        except Exception as error:  # the learner's function failed: say so, do not crash
            return False, f"your function raised {type(error).__name__}: {error}"
        if not abs(value - truth) <= 1e-9 * truth:
            if abs(value - s2) <= 1e-12 * s2:
                return False, "not yet: for any step > 0 the unadjusted chain is biased; it is not s2"
            return False, (f"not yet: at s2 = {s2}, eps = {eps} you give {value:.6g}; write one step as "
                           "x' = rho x + sqrt(eps) z and solve v = rho^2 v + eps")
    return True, "correct: the relative bias is about eps / (4 s2), and the chain diverges at eps = 4 s2"


@exercise("09-dsm-target")
def _check_09_dsm_target(answer: object) -> Verdict:
    # answer: target(x_tilde, x, sigma) = grad_{x_tilde} log N(x_tilde; x, sigma^2 I), batched.
    if not callable(answer):
        return False, "expected a function target(x_tilde, x, sigma)"
    generator = torch.Generator().manual_seed(9)
    x = torch.randn(32, 2, generator=generator, dtype=torch.float64)
    for sigma in (0.1, 0.5, 2.0):
        x_tilde = (x + sigma * torch.randn(32, 2, generator=generator, dtype=torch.float64)).requires_grad_(True)
        log_kernel = (-((x_tilde - x) ** 2).sum() / (2 * sigma**2))       # up to a constant
        truth = torch.autograd.grad(log_kernel, x_tilde)[0]
        try:
            value = torch.as_tensor(answer(x_tilde.detach(), x, sigma), dtype=torch.float64)
        except Exception as error:  # the learner's function failed: say so, do not crash
            return False, f"your function raised {type(error).__name__}: {error}"
        if value.shape != truth.shape:
            return False, f"not yet: expected shape {tuple(truth.shape)}, got {tuple(value.shape)}"
        if not torch.allclose(value, truth, rtol=1e-9, atol=1e-12):
            if torch.allclose(value, -truth, rtol=1e-9, atol=1e-12):
                return False, "not yet: wrong sign; the target points from x_tilde back towards x"
            if torch.allclose(value, truth * sigma, rtol=1e-9, atol=1e-12):
                return False, "not yet: divide by sigma^2, the kernel's variance, not by sigma"
            return False, f"not yet at sigma = {sigma}: differentiate log N(x_tilde; x, sigma^2 I) in x_tilde"
    return True, "correct"


# ---------------------------------------------------------------- lesson 10: the SDE and ODE view
@exercise("10-m1")
def _check_10_m1(answer: object) -> Verdict:
    # m(1)^2, the continuous alpha_bar at t = 1 of the VP SDE matching the linear schedule.
    from .sde import VPSDE

    if not _is_number(answer):
        return False, f"expected a number, got {answer!r}"
    s = linear_schedule()
    m_1 = float(VPSDE.from_schedule(s).marginal(1.0)[0])
    if _close(answer, m_1**2):
        return True, "correct: close to alpha_bar_T but not equal; the steps differ by O(beta_t^2) each"
    if _close(answer, float(s.alpha_bar[s.T])):
        return False, "not yet: that is the discrete alpha_bar_T; integrate beta(t) instead of multiplying"
    if _close(answer, m_1):
        return False, "not yet: that is m(1), the mean coefficient; alpha_bar corresponds to m(1)^2"
    return False, "not yet: m(t)^2 = exp(-int_0^t beta(s) ds) with beta(s) = beta_min + s (beta_max - beta_min)"


@exercise("10-pf-drift")
def _check_10_pf_drift(answer: object) -> Verdict:
    # answer: drift(x, t, score), the probability-flow velocity of VESDE() given the score values.
    from .sde import VESDE, pf_ode_drift

    if not callable(answer):
        return False, "expected a function drift(x, t, score)"
    sde = VESDE()
    generator = torch.Generator().manual_seed(10)
    x = torch.randn(16, 2, generator=generator, dtype=torch.float64)
    score = torch.randn(16, 2, generator=generator, dtype=torch.float64)
    for t in (0.1, 0.5, 0.9):
        truth = pf_ode_drift(lambda x, t: score, sde, x, t)
        try:
            value = torch.as_tensor(answer(x, t, score), dtype=torch.float64)
        except Exception as error:  # the learner's function failed: say so, do not crash
            return False, f"your function raised {type(error).__name__}: {error}"
        if value.shape == truth.shape and torch.allclose(value, truth, rtol=1e-9, atol=1e-12):
            continue
        if value.shape == truth.shape and torch.allclose(value, 2 * truth, rtol=1e-9, atol=1e-12):
            return False, "not yet: g(t)^2 times the score is the reverse SDE's drift; the ODE has half of it"
        if value.shape == truth.shape and torch.allclose(value, -0.5 * float(sde.sigma(t)) ** 2 * score,
                                                         rtol=1e-9, atol=1e-12):
            return False, "not yet: g(t) is not sigma(t); g(t)^2 = d sigma(t)^2 / dt"
        return False, f"not yet at t = {t}: dx/dt = f(x, t) - 1/2 g(t)^2 score, and f = 0 for the VE SDE"
    return True, "correct"


@exercise("06-step")
def _check_06_step(answer: object) -> Verdict:
    # answer: step(s, eps, x_t, t, z, variance), line 4 of Algorithm 2 for a batch.
    from .samplers import ddpm_step

    if not callable(answer):
        return False, "expected a function step(s, eps, x_t, t, z, variance)"
    s = linear_schedule()
    g = torch.Generator().manual_seed(0)
    x_t, eps, z = (torch.randn(16, 2, generator=g, dtype=torch.float64) for _ in range(3))
    t = torch.tensor([1, 2, 3, 10, 100, 500, 999, 1000] * 2)
    for variance in ("beta", "beta_tilde"):
        truth = ddpm_step(s, eps, x_t, t, noise=z, variance=variance)
        try:
            value = torch.as_tensor(answer(s, eps, x_t, t, z, variance), dtype=torch.float64)
        except Exception as error:  # the learner's function failed: say so, do not crash
            return False, f"your function raised {type(error).__name__}: {error}"
        if value.shape != truth.shape or not torch.allclose(value, truth, rtol=1e-9, atol=1e-12):
            wrong_t = sorted({int(v) for v in t[(value - truth).abs().reshape(16, -1).amax(1) > 1e-9]}) \
                if value.shape == truth.shape else "all"
            return False, f"not yet with variance={variance!r}: wrong at t = {wrong_t}"
    return True, "correct"


@exercise("06-ema")
def _check_06_ema(answer: object) -> Verdict:
    d = 0.9999
    truth = d / (1 - d)
    if not _is_number(answer):
        return False, f"expected a number, got {answer!r}"
    if abs(answer - truth) <= 1e-6 * truth:
        return True, "correct"
    if abs(answer - 1 / (1 - d)) <= 1e-6 * truth:
        return False, "close: 1 / (1 - d) is the effective window; the mean age is d / (1 - d)"
    return False, "not yet: sum k (1 - d) d^k is the derivative of a geometric series"

