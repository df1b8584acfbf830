"""ddpm_lite: denoising diffusion models, small and verified."""

__version__ = "0.1.0"

from . import exercises
from .device import by_mode, pick_device, run_mode, seed_everything
from .stats import moment_z_scores
from .toys import checkerboard, ring_of_gaussians, swiss_roll, toy_data, two_moons
from .schedule import Schedule, cosine_schedule, gather, linear_schedule, respace
from .diffusion import (
    eps_from_x0,
    p_mean_var,
    q_posterior,
    q_sample,
    reverse_log_variance,
    x0_from_eps,
)
from .oracle import GaussianMixture
from .samplers import (
    ddim_invert,
    ddim_sigma,
    ddim_step,
    ddim_timesteps,
    ddpm_step,
    sample_ddim,
    sample_ddpm,
    slerp,
)
from .dpm_solver import dpm_solver_timesteps, half_log_snr, sample_dpm_solver
from .unipc import sample_unipc
from .losses import (
    coding_rate_bpd,
    discretized_gaussian_log_likelihood,
    loss_simple,
    normal_kl,
    prior_bpd,
    vlb_terms_bpd,
)
from .unet import UNet, UNetConfig, timestep_embedding
from .mlp import MLPDenoiser
from .pretrained import convert_diffusers_unet, load_pretrained
from .sde import (
    VESDE,
    VPSDE,
    mixture_eps_fn,
    mixture_score_fn,
    noised_mixture,
    pf_ode_drift,
    prior_log_prob,
    prior_sample,
    sample_pf_ode,
    sample_reverse_sde,
    score_fn_from_eps_theta,
    score_from_eps,
    step_to_time,
    time_to_step,
)
from .likelihood import bits_per_dim, ode_bits_per_dim, ode_log_likelihood
from .langevin import annealed_langevin, langevin, noise_ladder
from .guidance import classifier_free_guidance, classifier_guidance
from .datasets import digits, load_dataset, random_hflip
from .metrics import (
    DigitsClassifier,
    class_histogram,
    digits_fd,
    digits_features,
    frechet_distance,
    load_digits_classifier,
    real_vs_real_floor,
)
from .noisy_classifier import (
    NoisyDigitsClassifier,
    accuracy_vs_t,
    load_noisy_classifier,
    train_noisy_classifier,
)
from .train_config import TrainConfig
from .train import TrainResult, batch_indices, ema_update, train, warmup_lr
from .checkpoint import (
    Checkpoint,
    course_model,
    export_model,
    latest_checkpoint,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from .autoencoder import (
    Autoencoder,
    latent_scale,
    reconstruction_mse,
    train_autoencoder,
)
from .dit import DiT, DiTConfig, patchify, unpatchify
from .flow_matching import (
    eps_from_v,
    eps_from_velocity,
    fm_loss,
    interpolant,
    mixture_velocity,
    sample_flow,
    train_flow_matching,
    v_from_eps_x0,
    velocity_from_eps,
    velocity_target,
    x0_from_v,
    x0_from_velocity,
)
