"""Exercise checkers of lessons 03-04 (bound, noise prediction); registered on import."""

from __future__ import annotations

import math

import torch

from ..schedule import linear_schedule
from ._core import Verdict, _as_float64, _call, _close, _is_number, exercise


@exercise("03-kl", reveals=True)
def _check_03_kl(answer: object) -> Verdict:
    # KL( N(1, 0.5) || N(0, 2) ) in nats, the second argument of N being a variance.
    from ..losses import normal_kl

    if not _is_number(answer):
        return False, f"expected a number (nats), got {answer!r}"
    v_1, v_2 = (
        torch.tensor(0.5, dtype=torch.float64),
        torch.tensor(2.0, dtype=torch.float64),
    )
    truth = float(
        normal_kl(
            torch.tensor(1.0, dtype=torch.float64),
            v_1.log(),
            torch.tensor(0.0, dtype=torch.float64),
            v_2.log(),
        )
    )
    if _close(answer, truth):
        return True, "correct"
    if _close(answer, truth + 0.5 * math.log(2.0 / 0.5)):
        return (
            False,
            "not yet: with variances, the log term is 1/2 log(v2 / v1); did you drop the 1/2?",
        )
    if _close(answer, truth / math.log(2)):
        return False, "not yet: the answer is asked in nats, not bits"
    return False, "not yet: KL = 1/2 log(v2/v1) + (v1 + (mu1 - mu2)^2) / (2 v2) - 1/2"


@exercise("03-prior", reveals=True)
def _check_03_prior(answer: object) -> Verdict:
    # L_T in bits for one pixel at x_0 = 1 with the linear schedule shortened to T = 100.
    from ..losses import prior_bpd

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
    return (
        False,
        "not yet: L_T = 1/2 (-log(1 - ab) - ab + ab x_0^2) nats with ab = alpha_bar_T",
    )


@exercise("03-decoder")
def _check_03_decoder(answer: object) -> Verdict:
    # Probability of the top level x_0 = 1 under a decoder with mean 0.98 and std 0.02.
    from ..losses import discretized_gaussian_log_likelihood

    if not _is_number(answer):
        return False, f"expected a probability, got {answer!r}"
    mean, std = torch.tensor(0.98, dtype=torch.float64), 0.02
    one = torch.tensor(1.0, dtype=torch.float64)
    truth = float(
        discretized_gaussian_log_likelihood(
            one, mean, torch.tensor(math.log(std))
        ).exp()
    )
    if _close(answer, truth):
        return True, "correct"
    closed = float(
        torch.special.ndtr((one + 1 / 255 - mean) / std)
        - torch.special.ndtr((one - 1 / 255 - mean) / std)
    )
    if _close(answer, closed):
        return (
            False,
            "not yet: the top bin is open, [1 - 1/255, infinity), not [1 - 1/255, 1 + 1/255]",
        )
    return False, "not yet: integrate N(0.98, 0.02^2) over the bin of x_0 = 1"


@exercise("04-weight", reveals=True)
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
        return (
            False,
            "not yet: the factor in the denominator is alpha_t, not alpha_bar_t",
        )
    if _close(answer, beta**2 / (2 * float(s.beta_tilde[t]) * alpha * (1 - alpha_bar))):
        return (
            False,
            "not yet: that is the weight for sigma_t^2 = beta_tilde_t; use sigma_t^2 = beta_t",
        )
    return (
        False,
        "not yet: lambda_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - alpha_bar_t))",
    )


@exercise("04-reverse-var")
def _check_04_reverse_var(answer: object) -> Verdict:
    # Var(x_{t-1} | x_t) at t = 10 for 1-D data x_0 ~ N(0, 0.25), linear schedule.
    if not _is_number(answer):
        return False, f"expected a number, got {answer!r}"
    s, t, data_var = linear_schedule(), 10, 0.25
    v = (
        float(s.alpha_bar[t - 1]) * data_var + 1 - float(s.alpha_bar[t - 1])
    )  # Var(x_{t-1})
    beta, alpha = float(s.beta[t]), float(s.alpha[t])
    truth = v * beta / (alpha * v + beta)  # Gaussian conditioning
    if _close(answer, truth, rtol=1e-6):
        return True, "correct: between beta_tilde_t and beta_t, as it must be"
    if _close(answer, beta, rtol=1e-6):
        return False, "not yet: beta_t is the answer for data of variance 1, not 0.25"
    if _close(answer, float(s.beta_tilde[t]), rtol=1e-6):
        return False, "not yet: beta_tilde_t is the answer for data at a single point"
    return False, "not yet: condition the Gaussian pair (x_{t-1}, x_t) on x_t"


@exercise("04-score", reveals=True)
def _check_04_score(answer: object) -> Verdict:
    # answer: eps_star(x_t, t) for 1-D data x_0 ~ N(0, 0.25) with the linear schedule.
    from ..oracle import GaussianMixture

    if not callable(answer):
        return (
            False,
            "expected a function eps_star(x_t, t) of a tensor x_t (N, 1) and an int t",
        )
    s = linear_schedule()
    oracle = GaussianMixture(torch.zeros(1, 1), torch.tensor([0.5]), torch.ones(1))
    x_t = torch.linspace(-3, 3, 13, dtype=torch.float64)[:, None]
    for t in (1, 10, 100, 1000):
        truth = oracle.eps_star(s, x_t, torch.full((13,), t))
        value, error = _call(answer, x_t, t, convert=_as_float64)
        if error:
            return False, error
        if value.shape != truth.shape or not torch.allclose(
            value, truth, rtol=1e-9, atol=1e-12
        ):
            return False, (
                f"not yet at t = {t}: eps_star = sqrt(1 - ab) x_t / (ab * 0.25 + 1 - ab), "
                "the noise's share of x_t"
            )
    return True, "correct"
