"""ddpm_lite: denoising diffusion models, small and verified."""

__version__ = "0.1.0"

from . import exercises
from .device import by_mode, pick_device, run_mode, seed_everything
from .stats import moment_z_scores
from .data import digits
from .toys import checkerboard, ring_of_gaussians, swiss_roll, toy_data, two_moons
from .schedule import Schedule, cosine_schedule, gather, linear_schedule, respace
from .diffusion import eps_from_x0, p_mean_var, q_posterior, q_sample, reverse_log_variance, x0_from_eps
from .oracle import GaussianMixture
from .losses import discretized_gaussian_log_likelihood, loss_simple, normal_kl, prior_bpd, vlb_terms_bpd
