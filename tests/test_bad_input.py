"""Bad input at the public API fails at the boundary, with an error naming the argument.

A table of (call, exception type, message pattern) walks the public functions through
wrong values and wrong types; then a user model's output is checked by every sampler
and loss that calls it (shape, dtype, device, NaN on the first call, NaN appearing
later, named by its step); last, edge cases that must keep working. Tiny tensors and
T = 10 throughout.
"""

import math

import pytest
import torch

import ddpm_lite as d
import ddpm_lite.flow_matching as fm
from ddpm_lite._checks import ArgTypeError, watch_model
from ddpm_lite.train import ema_update, warmup_lr

T = 10
S = d.linear_schedule(T)
X = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
EMPTY = torch.zeros(0, 2)
GRID_X = torch.tensor([[-1.0, 1.0], [0.0, 0.5], [1.0, -0.5], [0.25, 0.0]])  # bins = 9
GM = d.GaussianMixture(torch.zeros(1, 2), torch.ones(1), torch.ones(1))
VP, NAN, INF = d.VPSDE(), math.nan, math.inf


def zero(x, *args):
    return torch.zeros_like(x)


def minus_x(x, *args):
    return -x


def cond(x, t, y):
    return torch.zeros_like(x)


def log_prob(x, t, y):
    return -(x**2).sum(1)


MLP = d.MLPDenoiser(hidden=8, depth=1, time_dim=4)
TINY_UNET = {
    "in_channels": 1,
    "out_channels": 1,
    "ch": 8,
    "ch_mult": (1, 2),
    "num_res_blocks": 1,
    "attn_resolutions": (),
    "dropout": 0.0,
    "resolution": 4,
    "groups": 4,
}
UNET = d.UNet(d.UNetConfig(**TINY_UNET))
DIT = d.DiT(d.DiTConfig(dim=8, depth=1, heads=2))
IMG4, IMG8 = torch.randn(2, 1, 4, 4), torch.randn(2, 1, 8, 8)


def unet_config(**kw):
    return d.UNetConfig(**{**TINY_UNET, **kw})


def cfg(**kw):
    return d.classifier_free_guidance(cond, **{"y": 1, "w": 1.0, "null_label": 0, **kw})


def cg(**kw):
    return d.classifier_guidance(zero, log_prob, S, 0, **{"scale": 1.0, **kw})


def f4(*values):
    return torch.tensor(values, dtype=torch.float32)


VE, TE = ValueError, ArgTypeError
NET = torch.nn.Linear(2, 2)  # for the EMA update
# (id, call, exception type, pattern). ArgTypeError is a TypeError (and a ValueError).
CASES = [
    # guidance
    ("cfg w nan", lambda: cfg(w=NAN), VE, r"w must be a finite number, got nan"),
    ("cfg w inf", lambda: cfg(w=INF), VE, r"w must be a finite number"),
    ("cfg w bool", lambda: cfg(w=True), TypeError, r"w must be a real number"),
    ("cfg w str", lambda: cfg(w="2"), TypeError, r"w must be a real number"),
    ("cfg y float", lambda: cfg(y=1.5), TypeError, r"y must be an int"),
    ("cfg y bool", lambda: cfg(y=True), TypeError, r"y must be an int"),
    ("cfg null 1-D", lambda: cfg(null_label=torch.tensor([0, 1])), VE, "null_label"),
    ("cfg t float", lambda: cfg()(X, 2.5), TypeError, r"t must be an int"),
    (
        "cfg y length",
        lambda: cfg(y=torch.tensor([1, 2, 3]))(X, 2),
        VE,
        r"y must be an int or have shape \(4,\)",
    ),
    ("cfg x_t int", lambda: cfg()(X.long(), 2), TypeError, r"x_t must be a floating"),
    ("cg x_t int", lambda: cg()(X.long(), 2), TypeError, r"x_t must be a floating"),
    ("cg scale nan", lambda: cg(scale=NAN), VE, r"scale must be a finite number"),
    ("cg scale -inf", lambda: cg(scale=-INF), VE, r"scale must be a finite number"),
    ("cg scale bool", lambda: cg(scale=True), TypeError, r"scale must be a real"),
    ("cg t -1", lambda: cg()(X, -1), VE, r"t must be integers in 1\.\.10"),
    ("cg t T+1", lambda: cg()(X, T + 1), VE, r"t must be integers in 1\.\.10"),
    ("cg t 0", lambda: cg()(X, 0), VE, r"t must be integers in 1\.\.10"),
    ("cg t float", lambda: cg()(X, torch.ones(4)), TypeError, r"t must be an int"),
    (
        "cg log_prob shape",
        lambda: d.classifier_guidance(zero, zero, S, 0, scale=1.0)(X, 2),
        VE,
        r"log_prob_y returned shape \(4, 2\); expected \(4,\)",
    ),
    # networks: t finite and >= 1, x_t floating, sizes that work
    ("mlp t nan", lambda: MLP(X, f4(NAN, 1, 1, 1)), VE, r"t out of range.*finite"),
    ("mlp t inf", lambda: MLP(X, f4(INF, 1, 1, 1)), VE, r"t out of range.*finite"),
    ("mlp t 0.5", lambda: MLP(X, f4(0.5, 1, 1, 1)), VE, r"t out of range: need 1 <= t"),
    ("mlp x_t int", lambda: MLP(X.long(), f4(1, 1, 1, 1)), TypeError, "x_t must be"),
    ("mlp hidden 0", lambda: d.MLPDenoiser(hidden=0), VE, r"hidden must be an integer"),
    ("mlp depth 0", lambda: d.MLPDenoiser(depth=0), VE, r"depth must be an integer"),
    ("mlp dim 0", lambda: d.MLPDenoiser(dim=0), VE, r"dim must be an integer >= 1"),
    ("mlp hidden bool", lambda: d.MLPDenoiser(hidden=True), TypeError, r"hidden must"),
    (
        "mlp time_dim 5",
        lambda: d.MLPDenoiser(time_dim=5),
        VE,
        r"time_dim must be an even number",
    ),
    ("mlp time_dim 4.0", lambda: d.MLPDenoiser(time_dim=4.0), TypeError, "time_dim"),
    (
        "mlp y float",
        lambda: d.MLPDenoiser(num_classes=2)(X, f4(1, 1, 1, 1), f4(0, 0, 0, 0)),
        TypeError,
        r"y must be an integer tensor",
    ),
    ("mlp classes 0", lambda: d.MLPDenoiser(num_classes=0), VE, r"num_classes must be"),
    ("unet t nan", lambda: UNET(IMG4, f4(NAN, 1)), VE, r"t out of range.*finite"),
    ("unet t inf", lambda: UNET(IMG4, f4(1, INF)), VE, r"t out of range.*finite"),
    ("unet x_t int", lambda: UNET(IMG4.int(), f4(1, 1)), TypeError, r"x_t must be"),
    ("unet blocks -1", lambda: unet_config(num_res_blocks=-1), VE, "num_res_blocks"),
    ("unet in 0", lambda: unet_config(in_channels=0), VE, r"in_channels must be"),
    ("unet out 0", lambda: unet_config(out_channels=0), VE, r"out_channels must be"),
    ("unet in float", lambda: unet_config(in_channels=1.0), TypeError, r"in_channels"),
    ("unet ch 0", lambda: unet_config(ch=0), VE, r"ch must be an integer >= 1"),
    ("unet ch odd", lambda: unet_config(ch=5, groups=1), VE, r"ch must be an even"),
    ("unet groups 0", lambda: unet_config(groups=0), VE, r"groups must be an integer"),
    ("unet groups 3", lambda: unet_config(groups=3), VE, r"groups=3 must divide"),
    ("unet ch_mult ()", lambda: unet_config(ch_mult=()), VE, r"ch_mult must be"),
    ("unet ch_mult 0", lambda: unet_config(ch_mult=(1, 0)), VE, r"ch_mult\[1\] must"),
    ("unet ch_mult 1.5", lambda: unet_config(ch_mult=(1.5,)), TypeError, r"ch_mult"),
    ("unet ch_mult int", lambda: unet_config(ch_mult=2), TypeError, r"ch_mult must"),
    ("unet res 0", lambda: unet_config(resolution=0), VE, r"resolution must be"),
    ("unet res 6", lambda: unet_config(resolution=6, ch_mult=(1, 1, 1)), VE, "resol"),
    ("unet dropout 1", lambda: unet_config(dropout=1.0), VE, r"dropout must be in"),
    ("unet dropout bool", lambda: unet_config(dropout=True), TE, r"dropout must be"),
    ("unet dropout nan", lambda: unet_config(dropout=NAN), VE, r"dropout must be in"),
    ("unet eps 0", lambda: unet_config(eps=0.0), VE, r"eps must be > 0"),
    ("unet classes 0", lambda: unet_config(num_classes=0), VE, r"num_classes must be"),
    ("unet attn 0", lambda: unet_config(attn_resolutions=(0,)), VE, "attn_resolutions"),
    ("unet config dict", lambda: d.UNet({"ch": 8}), TypeError, r"config must be"),
    ("dit patch 0", lambda: d.DiTConfig(patch=0), VE, r"patch must be an integer"),
    ("dit patch 3", lambda: d.DiTConfig(patch=3), VE, r"patch must divide"),
    ("dit heads 0", lambda: d.DiTConfig(heads=0), VE, r"heads must be an integer"),
    ("dit dim 0", lambda: d.DiTConfig(dim=0), VE, r"dim must be an integer >= 1"),
    ("dit dim 18", lambda: d.DiTConfig(dim=18, heads=3), VE, r"dim must be a multiple"),
    ("dit depth 0", lambda: d.DiTConfig(depth=0), VE, r"depth must be an integer"),
    ("dit size 0", lambda: d.DiTConfig(image_size=0), VE, r"image_size must be"),
    ("dit in 0", lambda: d.DiTConfig(in_channels=0), VE, r"in_channels must be"),
    ("dit mlp 0", lambda: d.DiTConfig(mlp_ratio=0.0), VE, r"mlp_ratio must be > 0"),
    ("dit mlp nan", lambda: d.DiTConfig(mlp_ratio=NAN), VE, r"mlp_ratio must be > 0"),
    (
        "dit mlp tiny",
        lambda: d.DiTConfig(dim=8, heads=2, mlp_ratio=0.01),
        VE,
        r"mlp_ratio must give an MLP of width",
    ),
    ("dit config dict", lambda: d.DiT({"dim": 8}), TypeError, r"config must be a"),
    ("dit classes 0", lambda: d.DiTConfig(num_classes=0), VE, r"num_classes must be"),
    ("dit t nan", lambda: DIT(IMG8, f4(NAN, 1)), VE, r"t out of range.*finite"),
    ("dit t inf", lambda: DIT(IMG8, f4(1, INF)), VE, r"t out of range.*finite"),
    ("dit x_t int", lambda: DIT(IMG8.long(), f4(1, 1)), TypeError, r"x_t must be"),
    ("embedding dim 5", lambda: d.timestep_embedding(f4(1), 5), VE, r"dim must be"),
    ("embedding dim 4.", lambda: d.timestep_embedding(f4(1), 4.0), TypeError, "dim"),
    # DDPM
    ("ddpm x_T empty", lambda: d.sample_ddpm(zero, S, EMPTY), VE, r"x_T must hold"),
    ("ddpm x_T int", lambda: d.sample_ddpm(zero, S, X.long()), TypeError, r"x_T must"),
    ("ddpm x_T list", lambda: d.sample_ddpm(zero, S, [[0.0]]), TypeError, r"x_T must"),
    ("ddpm x_T nan", lambda: d.sample_ddpm(zero, S, X / 0), VE, r"x_T must be finite"),
    ("ddpm x_T 0-d", lambda: d.sample_ddpm(zero, S, X[0, 0]), VE, r"x_T must hold"),
    ("ddpm t_start 0", lambda: d.sample_ddpm(zero, S, X, t_start=0), VE, "t_start"),
    ("ddpm t_start T+1", lambda: d.sample_ddpm(zero, S, X, t_start=11), VE, "t_start"),
    (
        "ddpm t_start float",
        lambda: d.sample_ddpm(zero, S, X, t_start=2.0),
        TypeError,
        r"t_start must be an integer in 1\.\.T=10",
    ),
    (
        "ddpm t_start bool",
        lambda: d.sample_ddpm(zero, S, X, t_start=True),
        TypeError,
        r"t_start must be an integer",
    ),
    ("ddpm variance", lambda: d.sample_ddpm(zero, S, X, variance="x"), VE, "variance"),
    ("ddpm clip str", lambda: d.sample_ddpm(zero, S, X, clip_x0="y"), TE, "clip_x0"),
    (
        "ddpm return_trajectory 1",
        lambda: d.sample_ddpm(zero, S, X, return_trajectory=1),
        TypeError,
        r"return_trajectory must be True or False",
    ),
    ("ddpm_step t T+1", lambda: d.ddpm_step(S, X, X, 11, noise=X), VE, r"t must be"),
    (
        "ddpm_step t shape",
        lambda: d.ddpm_step(S, X, X, torch.tensor([2, 2]), noise=X),
        VE,
        r"t must be an int or have shape \(4,\)",
    ),
    (
        "ddpm_step x_t int",
        lambda: d.ddpm_step(S, X, X.long(), 2, noise=X),
        TypeError,
        r"x_t must be a floating",
    ),
    # DDIM
    ("ddim x_T empty", lambda: d.sample_ddim(zero, S, EMPTY), VE, r"x_T must hold"),
    ("ddim x_T int", lambda: d.sample_ddim(zero, S, X.int()), TypeError, r"x_T must"),
    ("ddim eta bool", lambda: d.sample_ddim(zero, S, X, eta=True), TE, r"eta must be"),
    ("ddim eta nan", lambda: d.sample_ddim(zero, S, X, eta=NAN), VE, r"eta must be >="),
    ("ddim eta -0.5", lambda: d.sample_ddim(zero, S, X, eta=-0.5), VE, r"eta must be"),
    ("ddim eta inf", lambda: d.sample_ddim(zero, S, X, eta=INF), VE, r"eta must be"),
    ("ddim eta tensor", lambda: d.sample_ddim(zero, S, X, eta=f4(0)), TE, r"eta must"),
    (
        "ddim steps 0",
        lambda: d.sample_ddim(zero, S, X, steps=0),
        VE,
        r"steps must be an integer in 1\.\.T=10",
    ),
    ("ddim steps T+1", lambda: d.sample_ddim(zero, S, X, steps=11), VE, r"steps must"),
    ("ddim steps 2.5", lambda: d.sample_ddim(zero, S, X, steps=2.5), TE, r"steps must"),
    ("ddim steps bool", lambda: d.sample_ddim(zero, S, X, steps=True), TE, r"steps"),
    (
        "ddim timesteps repeat",
        lambda: d.sample_ddim(zero, S, X, timesteps=[5, 5]),
        VE,
        r"timesteps must be strictly descending",
    ),
    (
        "ddim timesteps T+1",
        lambda: d.sample_ddim(zero, S, X, timesteps=[11, 5]),
        VE,
        r"timesteps must be strictly descending integers in 1\.\.T=10",
    ),
    (
        "ddim timesteps empty",
        lambda: d.sample_ddim(zero, S, X, timesteps=[]),
        VE,
        r"timesteps must be a non-empty",
    ),
    (
        "ddim timesteps bool",
        lambda: d.sample_ddim(zero, S, X, timesteps=[True]),
        VE,
        r"timesteps must be a non-empty",
    ),
    (
        "ddim return_trajectory str",
        lambda: d.sample_ddim(zero, S, X, steps=5, return_trajectory="y"),
        TypeError,
        r"return_trajectory must be True or False",
    ),
    (
        "ddim spacing",
        lambda: d.sample_ddim(zero, S, X, steps=5, spacing="x"),
        VE,
        "spacing",
    ),
    ("ddim_invert empty", lambda: d.ddim_invert(zero, S, EMPTY), VE, r"x_0 must hold"),
    (
        "ddim_invert bool",
        lambda: d.ddim_invert(zero, S, X > 0),
        TypeError,
        r"x_0 must be a floating",
    ),
    ("ddim_invert steps 0", lambda: d.ddim_invert(zero, S, X, steps=0), VE, r"steps"),
    (
        "ddim_sigma t T+1",
        lambda: d.ddim_sigma(S, torch.tensor([11]), torch.tensor([0]), 0.0),
        VE,
        r"t must be integers in 1\.\.10",
    ),
    (
        "ddim_sigma t_prev -1",
        lambda: d.ddim_sigma(S, torch.tensor([5]), torch.tensor([-1]), 0.0),
        VE,
        r"t_prev must be integers in 0\.\.9",
    ),
    (
        "ddim_sigma t_prev >= t",
        lambda: d.ddim_sigma(S, torch.tensor([5]), torch.tensor([5]), 0.0),
        VE,
        r"t_prev must be smaller than t",
    ),
    ("ddim_sigma eta bool", lambda: d.ddim_sigma(S, 5, 4, True), TE, r"eta must be"),
    ("ddim_sigma eta nan", lambda: d.ddim_sigma(S, 5, 4, NAN), VE, r"eta must be"),
    ("ddim_sigma t float", lambda: d.ddim_sigma(S, f4(5), 4, 0.0), TE, r"t must be"),
    ("ddim_step eta bool", lambda: d.ddim_step(S, X, X, 5, 4, eta=True), TE, "eta"),
    ("ddim_step clip str", lambda: d.ddim_step(S, X, X, 5, 4, clip_x0=1), TE, "clip"),
    # DPM-Solver++
    (
        "dpm order 4",
        lambda: d.sample_dpm_solver(zero, S, X, order=4),
        VE,
        r"order must be 1, 2 or 3",
    ),
    (
        "dpm lower_order_final int",
        lambda: d.sample_dpm_solver(zero, S, X, steps=5, lower_order_final=1),
        TypeError,
        "lower_order_final must be True or False",
    ),
    (
        "dpm order bool",
        lambda: d.sample_dpm_solver(zero, S, X, order=True),
        TE,
        "order",
    ),
    ("dpm order 2.0", lambda: d.sample_dpm_solver(zero, S, X, order=2.0), TE, "order"),
    ("dpm steps 0", lambda: d.sample_dpm_solver(zero, S, X, steps=0), VE, r"steps"),
    (
        "dpm return_trajectory 0",
        lambda: d.sample_dpm_solver(zero, S, X, steps=5, return_trajectory=0),
        TypeError,
        r"return_trajectory must be True or False",
    ),
    ("dpm x_T empty", lambda: d.sample_dpm_solver(zero, S, EMPTY), VE, r"x_T must"),
    ("dpm grid T+1", lambda: d.dpm_solver_timesteps(S, 11), VE, r"steps must be"),
    # UniPC
    (
        "unipc order 4",
        lambda: d.sample_unipc(zero, S, X, order=4),
        VE,
        r"order must be",
    ),
    ("unipc order bool", lambda: d.sample_unipc(zero, S, X, order=True), TE, "order"),
    (
        "unipc variant",
        lambda: d.sample_unipc(zero, S, X, variant="bh3"),
        VE,
        r"variant must be one of \('bh1', 'bh2'\)",
    ),
    (
        "unipc corrector int",
        lambda: d.sample_unipc(zero, S, X, corrector=1),
        TE,
        "corrector must be True or False",
    ),
    ("unipc x_T empty", lambda: d.sample_unipc(zero, S, EMPTY), VE, r"x_T must"),
    # slerp
    ("slerp zeros", lambda: d.slerp(X * 0, X, 0.5), VE, r"z0 and z1 must be finite"),
    ("slerp alpha nan", lambda: d.slerp(X, -X, NAN), VE, r"alpha must be finite"),
    ("slerp alpha bool", lambda: d.slerp(X, -X, True), TypeError, r"alpha must be"),
    ("slerp z1 int", lambda: d.slerp(X, X.long(), 0.5), TypeError, r"z1 must be"),
    ("slerp z0 int", lambda: d.slerp(X.long(), X, 0.5), TypeError, r"z0 must be"),
    # continuous time
    (
        "step_to_time 2000",
        lambda: d.step_to_time(2000, 1000),
        VE,
        r"t must be integers",
    ),
    ("step_to_time -1", lambda: d.step_to_time(-1, T), VE, r"t must be integers in 0"),
    (
        "step_to_time 0.5",
        lambda: d.step_to_time(0.5, T),
        TypeError,
        r"t must be an int",
    ),
    ("step_to_time T 0", lambda: d.step_to_time(1, 0), VE, r"T must be an integer"),
    ("time_to_step 1.5", lambda: d.time_to_step(1.5, T), VE, r"t must be in \[0, 1\]"),
    ("time_to_step -0.1", lambda: d.time_to_step(-0.1, T), VE, r"t must be in \[0, 1"),
    ("time_to_step nan", lambda: d.time_to_step(NAN, T), VE, r"t must be in \[0, 1\]"),
    ("time_to_step bool", lambda: d.time_to_step(True, T), TypeError, r"t must be a"),
    ("vp beta_min nan", lambda: d.VPSDE(beta_min=NAN), VE, r"beta_min must be > 0"),
    ("vp beta_min bool", lambda: d.VPSDE(beta_min=True), TypeError, r"beta_min must"),
    ("vp beta_max inf", lambda: d.VPSDE(beta_max=INF), VE, r"beta_max must be > 0"),
    ("ve sigma_min bool", lambda: d.VESDE(sigma_min=True), TE, r"sigma_min must be"),
    ("ve sigma_max inf", lambda: d.VESDE(sigma_max=INF), VE, r"sigma_max must be"),
    (
        "sde x_T empty",
        lambda: d.sample_reverse_sde(minus_x, VP, EMPTY, steps=2),
        VE,
        r"x_T must hold at least one sample",
    ),
    (
        "sde x_T int",
        lambda: d.sample_reverse_sde(minus_x, VP, X.long(), steps=2),
        TypeError,
        r"x_T must be a floating",
    ),
    ("sde steps 0", lambda: d.sample_reverse_sde(minus_x, VP, X, steps=0), VE, "steps"),
    (
        "sde t_eps nan",
        lambda: d.sample_reverse_sde(minus_x, VP, X, steps=2, t_eps=NAN),
        VE,
        r"t_eps must be in \(0, 1\)",
    ),
    (
        "sde t_eps bool",
        lambda: d.sample_reverse_sde(minus_x, VP, X, steps=2, t_eps=True),
        TypeError,
        r"t_eps must be a real number",
    ),
    (
        "sde t_start 2",
        lambda: d.sample_reverse_sde(minus_x, VP, X, steps=2, t_start=2.0),
        VE,
        r"t_start must be in \(t_eps, 1\]",
    ),
    (
        "sde t_start bool",
        lambda: d.sample_reverse_sde(minus_x, VP, X, steps=2, t_start=True),
        TypeError,
        r"t_start must be a number in \(t_eps, 1\]",
    ),
    ("ode rtol 0", lambda: d.sample_pf_ode(minus_x, VP, X, rtol=0.0), VE, r"rtol must"),
    ("ode atol nan", lambda: d.sample_pf_ode(minus_x, VP, X, atol=NAN), VE, r"atol"),
    ("ode method", lambda: d.sample_pf_ode(minus_x, VP, X, method="rk4"), VE, "method"),
    ("ode x_T int", lambda: d.sample_pf_ode(minus_x, VP, X.long()), TE, r"x_T must"),
    (
        "ode drift x int",
        lambda: d.pf_ode_drift(minus_x, VP, X.long(), 0.5),
        TypeError,
        r"x must be a floating",
    ),
    (
        "ode drift score shape",
        lambda: d.pf_ode_drift(lambda x, t: x[:, :1], VP, X, 0.5),
        VE,
        r"score_fn returned shape \(4, 1\); expected \(4, 2\)",
    ),
    ("prior shape 0", lambda: d.prior_sample(VP, (0, 2)), VE, r"shape\[0\] must be"),
    ("prior shape int", lambda: d.prior_sample(VP, 5), TypeError, r"shape must be"),
    (
        "prior dtype int",
        lambda: d.prior_sample(VP, (2, 2), dtype=torch.int64),
        TypeError,
        r"dtype must be a floating",
    ),
    ("prior_log_prob empty", lambda: d.prior_log_prob(VP, EMPTY), VE, r"x must hold"),
    ("score std inf", lambda: d.score_from_eps(X, INF), VE, r"s_or_std must be finite"),
    ("score std 0", lambda: d.score_from_eps(X, 0.0), VE, r"s_or_std must be finite"),
    ("score std str", lambda: d.score_from_eps(X, "1"), TypeError, r"s_or_std must"),
    ("score eps int", lambda: d.score_from_eps(X.long(), 1.0), TypeError, r"eps must"),
    (
        "mixture score dim",
        lambda: d.mixture_score_fn(GM, VP)(torch.randn(4, 3), f4(0.5)),
        VE,
        r"x must hold D=2 values per point",
    ),
    (
        "mixture score x int",
        lambda: d.mixture_score_fn(GM, VP)(X.long(), f4(0.5)),
        TypeError,
        r"x must be a floating",
    ),
    # likelihood
    ("bpd D 0", lambda: d.bits_per_dim(f4(1.0), 0), VE, r"D must be an integer >= 1"),
    ("bpd D float", lambda: d.bits_per_dim(f4(1.0), 2.0), TypeError, r"D must be an"),
    ("bpd bins 1", lambda: d.bits_per_dim(f4(1.0), 2, bins=1), VE, r"bins must be"),
    ("bpd log_p str", lambda: d.bits_per_dim("1", 2), TypeError, r"log_p must be"),
    ("ll x_0 empty", lambda: d.ode_log_likelihood(minus_x, VP, EMPTY), VE, r"x_0 must"),
    (
        "ll rtol -1",
        lambda: d.ode_log_likelihood(minus_x, VP, X, rtol=-1.0),
        VE,
        r"rtol must be > 0",
    ),
    (
        "ll atol 0",
        lambda: d.ode_log_likelihood(minus_x, VP, X, atol=0.0),
        VE,
        r"atol must be > 0",
    ),
    (
        "ll bpd x_0 int",
        lambda: d.ode_bits_per_dim(minus_x, VP, X.long(), bins=9),
        TypeError,
        r"x_0 must be a floating",
    ),
    (
        "ll t_eps 0",
        lambda: d.ode_log_likelihood(minus_x, VP, X, t_eps=0.0),
        VE,
        r"t_eps must be in \(0, 1\)",
    ),
    (
        "ll dequantize str",
        lambda: d.ode_bits_per_dim(minus_x, VP, GRID_X, bins=9, dequantize="no"),
        TypeError,
        r"dequantize must be True or False",
    ),
    # Langevin
    (
        "langevin step bool",
        lambda: d.langevin(minus_x, X, step_size=True, n_steps=2),
        TypeError,
        r"step_size must be a real number",
    ),
    (
        "langevin step nan",
        lambda: d.langevin(minus_x, X, step_size=NAN, n_steps=2),
        VE,
        r"step_size must be > 0",
    ),
    (
        "langevin n_steps 0",
        lambda: d.langevin(minus_x, X, step_size=0.1, n_steps=0),
        VE,
        r"n_steps must be an integer >= 1",
    ),
    (
        "langevin x empty",
        lambda: d.langevin(minus_x, EMPTY, step_size=0.1, n_steps=2),
        VE,
        r"x must hold at least one sample",
    ),
    (
        "annealed sigmas inf",
        lambda: d.annealed_langevin(minus_x, X, [INF, 1.0]),
        VE,
        r"sigmas must be finite",
    ),
    (
        "annealed sigmas bool",
        lambda: d.annealed_langevin(minus_x, X, torch.tensor([True])),
        TypeError,
        r"sigmas must be real numbers",
    ),
    (
        "annealed x empty",
        lambda: d.annealed_langevin(minus_x, EMPTY, [1.0]),
        VE,
        r"x must hold at least one sample",
    ),
    (
        "annealed eps 0",
        lambda: d.annealed_langevin(minus_x, X, [1.0], eps=0),
        VE,
        "eps",
    ),
    (
        "ladder L 1",
        lambda: d.noise_ladder(1.0, 0.1, 1),
        VE,
        r"L must be an integer >= 2",
    ),
    ("ladder sigma bool", lambda: d.noise_ladder(True, 0.1, 3), TE, r"sigma_1 must be"),
    # flow matching
    ("flow x_1 empty", lambda: d.sample_flow(zero, EMPTY), VE, r"x_1 must hold"),
    ("flow steps 0", lambda: d.sample_flow(zero, X, steps=0), VE, r"steps must be"),
    (
        "flow t_end 1",
        lambda: d.sample_flow(zero, X, t_end=1.0),
        VE,
        r"t_end must be in",
    ),
    ("flow t_end bool", lambda: d.sample_flow(zero, X, t_end=False), TE, r"t_end must"),
    (
        "flow return_trajectory 1",
        lambda: d.sample_flow(zero, X, return_trajectory=1),
        TypeError,
        r"return_trajectory must be True or False",
    ),
    (
        "as_step_model T 0",
        lambda: fm.as_step_model(MLP, 0),
        VE,
        r"T must be an integer",
    ),
    ("fm_loss empty", lambda: d.fm_loss(zero, EMPTY), VE, r"x_0 must hold"),
    ("fm_loss x_0 int", lambda: d.fm_loss(zero, X.long()), TypeError, r"x_0 must be a"),
    (
        "interpolant shapes",
        lambda: d.interpolant(X, X[:, :1], 0.5),
        VE,
        r"x_0, eps must have the same shape",
    ),
    ("interpolant t 1.5", lambda: d.interpolant(X, X, 1.5), VE, r"t must be a float"),
    ("interpolant t bool", lambda: d.interpolant(X, X, True), TypeError, r"t must be"),
    (
        "x0_from_velocity shapes",
        lambda: d.x0_from_velocity(X, 0.5, X[:2]),
        VE,
        r"x_t, v must have the same shape",
    ),
    (
        "eps_from_velocity shapes",
        lambda: d.eps_from_velocity(X, 0.5, X[:1]),
        VE,
        r"x_t, v must have the same shape",
    ),
    (
        "velocity x_t int",
        lambda: d.eps_from_velocity(X.long(), 0.5, X.long()),
        TypeError,
        r"x_t must be a floating",
    ),
    (
        "velocity_target shapes",
        lambda: d.velocity_target(X, X[:2]),
        VE,
        r"x_0, eps must have the same shape",
    ),
    (
        "velocity_from_eps shapes",
        lambda: d.velocity_from_eps(X, 0.5, X[:, :1]),
        VE,
        r"x_t, eps must have the same shape",
    ),
    (
        "v_from_eps_x0 shapes",
        lambda: d.v_from_eps_x0(0.6, 0.8, X, X[:1]),
        VE,
        r"eps, x_0 must have the same shape",
    ),
    (
        "x0_from_v shapes",
        lambda: d.x0_from_v(0.6, 0.8, X, X[:1]),
        VE,
        r"x_t, v must have the same shape",
    ),
    (
        "eps_from_v shapes",
        lambda: d.eps_from_v(0.6, 0.8, X, X[:, :1]),
        VE,
        r"x_t, v must have the same shape",
    ),
    (
        "mixture_velocity x int",
        lambda: d.mixture_velocity(GM, X.long(), 0.5),
        TypeError,
        r"x must be a floating",
    ),
    (
        "mixture_velocity dim",
        lambda: d.mixture_velocity(GM, torch.randn(4, 3), 0.5),
        VE,
        r"x must have shape \(N, D=2\)",
    ),
    (
        "train_fm data empty",
        lambda: d.train_flow_matching(MLP, EMPTY, steps=1),
        VE,
        r"data must hold at least one sample",
    ),
    (
        "train_fm data nan",
        lambda: d.train_flow_matching(MLP, X / 0, steps=1),
        VE,
        r"data must be finite",
    ),
    (
        "train_fm lr 0",
        lambda: d.train_flow_matching(MLP, X, steps=1, lr=0.0),
        VE,
        r"lr must be > 0",
    ),
    # losses
    ("loss x_0 empty", lambda: d.loss_simple(zero, S, EMPTY), VE, r"x_0 must hold"),
    ("loss x_0 int", lambda: d.loss_simple(zero, S, X.long()), TypeError, r"x_0 must"),
    ("vlb x_0 empty", lambda: d.vlb_terms_bpd(zero, S, EMPTY), VE, r"x_0 must hold"),
    (
        "vlb batch 0",
        lambda: d.vlb_terms_bpd(zero, S, GRID_X, bins=9, batch_size=0),
        VE,
        r"batch_size must be an integer >= 1",
    ),
    (
        "vlb bins str",
        lambda: d.vlb_terms_bpd(zero, S, GRID_X, bins="9"),
        TypeError,
        r"bins must be an integer >= 2",
    ),
    (
        "vlb x_0 off the grid",
        lambda: d.vlb_terms_bpd(zero, S, X, bins=9),
        VE,
        r"x_0 must lie on the grid of bins = 9 levels",
    ),
    ("vlb bins 1", lambda: d.vlb_terms_bpd(zero, S, GRID_X, bins=1), VE, r"bins must"),
    ("prior_bpd empty", lambda: d.prior_bpd(S, EMPTY), VE, r"x_0 must hold"),
    ("prior_bpd int", lambda: d.prior_bpd(S, X.long()), TypeError, r"x_0 must be a"),
    (
        "likelihood bins bool",
        lambda: d.discretized_gaussian_log_likelihood(X, X, X, bins=True),
        TypeError,
        r"bins must be an integer >= 2",
    ),
    (
        "likelihood mean float",
        lambda: d.discretized_gaussian_log_likelihood(X, 0.0, X),
        TypeError,
        r"mean must be a floating-point tensor",
    ),
    ("coding_rate {}", lambda: d.coding_rate_bpd({}), VE, r"bound must hold 'prior'"),
    # schedules, forward process, oracle, toy data
    ("cosine s nan", lambda: d.cosine_schedule(T, s=NAN), VE, r"s must be >= 0"),
    ("cosine s inf", lambda: d.cosine_schedule(T, s=INF), VE, r"s must be >= 0"),
    ("cosine s bool", lambda: d.cosine_schedule(T, s=True), TypeError, r"s must be a"),
    ("linear T 0", lambda: d.linear_schedule(0), VE, r"T must be an integer >= 1"),
    ("linear T bool", lambda: d.linear_schedule(True), TypeError, r"T must be an"),
    (
        "q_sample t float",
        lambda: d.q_sample(S, X, f4(1, 1, 1, 1), X),
        TypeError,
        r"t must be integers in 1\.\.T=10 \(an int64 tensor\)",
    ),
    (
        "q_sample x_0 list",
        lambda: d.q_sample(S, [[0.0]], torch.tensor([1]), X),
        TypeError,
        r"x_0 must be a tensor",
    ),
    (
        "p_mean_var clip str",
        lambda: d.p_mean_var(S, X, X, torch.full((4,), 2), clip_x0="no"),
        TypeError,
        r"clip_x0 must be True or False",
    ),
    (
        "mixture means nan",
        lambda: d.GaussianMixture(f4(NAN, 0).reshape(1, 2), f4(1), f4(1)),
        VE,
        r"means must be finite",
    ),
    (
        "mixture no means",
        lambda: d.GaussianMixture(torch.zeros(0, 2), torch.ones(0), torch.ones(0)),
        VE,
        r"means must hold K >= 1 means",
    ),
    (
        "oracle x 0-d",
        lambda: GM.log_prob(f4(1)[0]),
        VE,
        r"x must have shape \(N, \.\.\.\)",
    ),
    ("oracle t float", lambda: GM.eps_model(S)(X, 2.5), TypeError, r"t must be an int"),
    ("oracle t 0", lambda: GM.eps_model(S)(X, 0), VE, r"t must be integers in 1\.\.10"),
    ("oracle x int", lambda: GM.log_prob(X.long()), TypeError, r"x must be a floating"),
    ("moons noise nan", lambda: d.two_moons(8, noise=NAN), VE, r"noise must be >= 0"),
    ("roll noise -1", lambda: d.swiss_roll(8, noise=-1.0), VE, r"noise must be >= 0"),
    ("ring std -1", lambda: d.ring_of_gaussians(8, std=-1.0), VE, r"std must be >= 0"),
    ("ring radius inf", lambda: d.ring_of_gaussians(8, radius=INF), VE, r"radius must"),
    ("roll n 0", lambda: d.swiss_roll(0), VE, r"n must be an integer >= 1"),
    (
        "ema decay 2",
        lambda: ema_update(NET, NET, 2.0),
        VE,
        r"decay must be in \[0, 1\]",
    ),
    ("ema decay nan", lambda: ema_update(NET, NET, NAN), VE, r"decay must be in"),
    ("warmup -10", lambda: warmup_lr(5, lr=1e-3, warmup=-10), VE, r"warmup must be"),
    ("warmup step 0", lambda: warmup_lr(0, lr=1e-3, warmup=9), VE, r"step must be"),
    ("warmup lr nan", lambda: warmup_lr(5, lr=NAN, warmup=9), VE, r"lr must be > 0"),
    ("warmup float", lambda: warmup_lr(5, lr=1e-3, warmup=9.5), TE, r"warmup must"),
]


@pytest.mark.parametrize(
    "call, exc, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_fails_at_the_boundary_naming_the_parameter(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_the_table_is_large_and_its_ids_unique():
    assert len(CASES) >= 120 and len({c[0] for c in CASES}) == len(CASES)


def test_a_type_error_is_also_a_value_error_for_older_callers():
    with pytest.raises(TypeError):
        d.sample_ddim(zero, S, X, eta=True)
    with pytest.raises(ValueError):
        d.sample_ddim(zero, S, X, eta=True)


# ------------------------------------------------------------------------ model outputs
def _run(sampler, model):
    """Call `sampler` (a name below) with `model` in every model slot, quietly."""
    q = {"progress": False}
    runs = {
        "sample_ddpm": lambda: d.sample_ddpm(model, S, X, **q),
        "sample_ddim": lambda: d.sample_ddim(model, S, X, steps=5, **q),
        "ddim_invert": lambda: d.ddim_invert(model, S, X, steps=5, **q),
        "sample_dpm_solver": lambda: d.sample_dpm_solver(model, S, X, steps=5, **q),
        "sample_unipc": lambda: d.sample_unipc(model, S, X, steps=5, **q),
        "sample_reverse_sde": lambda: d.sample_reverse_sde(model, VP, X, steps=5, **q),
        "sample_pf_ode euler": lambda: d.sample_pf_ode(
            model, VP, X, method="euler", steps=5, **q
        ),
        "sample_pf_ode heun": lambda: d.sample_pf_ode(model, VP, X, steps=5, **q),
        "sample_pf_ode rk45": lambda: d.sample_pf_ode(
            model, VP, X, method="rk45", rtol=1e-2, atol=1e-2
        ),
        "sample_flow": lambda: d.sample_flow(model, X, steps=5, method="heun"),
        "langevin": lambda: d.langevin(model, X, step_size=0.01, n_steps=5),
        "annealed_langevin": lambda: d.annealed_langevin(
            model, X, [1.0, 0.5, 0.1], steps_per_level=2
        ),
        "loss_simple": lambda: d.loss_simple(model, S, X),
        "vlb_terms_bpd": lambda: d.vlb_terms_bpd(
            model, S, GRID_X, bins=9, batch_size=8
        ),
        "fm_loss": lambda: d.fm_loss(model, X),
        "ode_log_likelihood": lambda: d.ode_log_likelihood(
            model, VP, X, rtol=1e-2, atol=1e-2
        ),
        "classifier_free_guidance": lambda: d.sample_ddim(
            d.classifier_free_guidance(model, 1, w=2.0, null_label=0),
            S,
            X,
            steps=5,
            **q,
        ),
        "classifier_guidance": lambda: d.sample_ddim(
            d.classifier_guidance(model, log_prob, S, 0, scale=1.0), S, X, steps=5, **q
        ),
        "score_fn_from_eps_theta": lambda: d.sample_reverse_sde(
            d.score_fn_from_eps_theta(model, S), VP, X, steps=5, **q
        ),
    }
    return runs[sampler]()


NAMES = {  # the model argument each one names
    "sample_ddpm": "eps_theta",
    "sample_ddim": "eps_theta",
    "ddim_invert": "eps_theta",
    "sample_dpm_solver": "eps_theta",
    "sample_unipc": "eps_theta",
    "sample_reverse_sde": "score_fn",
    "sample_pf_ode euler": "score_fn",
    "sample_pf_ode heun": "score_fn",
    "sample_pf_ode rk45": "score_fn",
    "sample_flow": "v_theta",
    "langevin": "score_fn",
    "annealed_langevin": "score_fn",
    "loss_simple": "eps_theta",
    "vlb_terms_bpd": "eps_theta",
    "fm_loss": "v_theta",
    "ode_log_likelihood": "score_fn",
    "classifier_free_guidance": "eps_theta_cond",
    "classifier_guidance": "eps_theta",
    "score_fn_from_eps_theta": "eps_theta",
}


def _column(x, *args):  # (B, 1): broadcasts silently against (B, D)
    return x[:, :1] * 0


def _row(x, *args):  # (1, D): broadcasts silently too
    return x[:1] * 0


@pytest.mark.parametrize("sampler", list(NAMES))
@pytest.mark.parametrize("model", [_column, _row], ids=["(B, 1)", "(1, D)"])
def test_a_model_output_of_the_wrong_shape_is_refused(sampler, model):
    with pytest.raises(ValueError, match=rf"^{NAMES[sampler]} returned shape \(\d+, "):
        _run(sampler, model)


def test_the_shape_message_names_both_shapes():
    with pytest.raises(
        ValueError,
        match=r"^eps_theta returned shape \(4, 1\); expected \(4, 2\), the shape of x$",
    ):
        d.sample_dpm_solver(_column, S, X, steps=5, progress=False)


@pytest.mark.parametrize("sampler", list(NAMES))
def test_a_model_output_that_is_not_a_floating_tensor_is_refused(sampler):
    with pytest.raises(TypeError, match=rf"^{NAMES[sampler]} must return a floating"):
        _run(sampler, lambda x, *args: torch.zeros_like(x, dtype=torch.int64))


@pytest.mark.parametrize("sampler", ["sample_ddim", "loss_simple", "langevin"])
def test_a_model_output_that_is_not_a_tensor_or_elsewhere_is_refused(sampler):
    with pytest.raises(
        TypeError, match=r"must return a floating-point tensor, got tuple"
    ):
        _run(sampler, lambda x, *args: (x,))
    with pytest.raises(ValueError, match=r"returned a tensor on meta; expected cpu"):
        _run(sampler, lambda x, *args: torch.zeros_like(x, device="meta"))


@pytest.mark.parametrize("sampler", ["sample_ddpm", "sample_pf_ode heun", "langevin"])
def test_a_shape_that_changes_after_the_first_call_is_refused(sampler):
    calls = []

    def model(x, *args):
        calls.append(1)
        return torch.zeros_like(x) if len(calls) == 1 else x[:, :1] * 0

    with pytest.raises(ValueError, match=r"returned shape \(4, 1\); expected \(4, 2\)"):
        _run(sampler, model)


LOSSES = ("loss_simple", "fm_loss")  # no host read per training step: the loss shows it


@pytest.mark.parametrize("sampler", [n for n in NAMES if n not in LOSSES])
def test_nan_on_the_first_call_is_refused(sampler):
    with pytest.raises(FloatingPointError, match=rf"^{NAMES[sampler]} returned NaN"):
        _run(sampler, lambda x, *args: torch.full_like(x, math.nan))


@pytest.mark.parametrize("loss", LOSSES)
def test_nan_from_the_model_shows_in_the_loss(loss):
    assert torch.isnan(_run(loss, lambda x, *args: torch.full_like(x, math.nan)))


class _NaNNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, x, t):
        return x * self.w * math.nan


def test_nan_in_the_training_loss_of_flow_matching_stops_it_naming_the_step():
    with pytest.raises(FloatingPointError, match=r"the loss is nan at step 1$"):
        d.train_flow_matching(_NaNNet(), X, steps=3, batch_size=4)


def test_nan_in_the_input_is_named_as_the_cause():
    guided = d.classifier_free_guidance(lambda x, t, y: 0 * x, 1, w=1.0, null_label=0)
    with pytest.raises(FloatingPointError, match=r"its input x is not finite"):
        guided(X / 0, 2)


def _nan_when(bad):
    """A model that returns NaN exactly where bad(t) holds (t: its second argument)."""

    def model(x, t, *rest):
        out = torch.zeros_like(x)
        return out + math.nan if bad(torch.as_tensor(t).reshape(-1)[0]) else out

    return model


def _nan_from_call(k):
    """A model of one argument (Langevin's score), NaN from its k-th call on."""
    calls = []

    def score(x):
        calls.append(1)
        return -x + (math.nan if len(calls) >= k else 0.0)

    return score


LATER = [  # (run, pattern of the message)
    (
        lambda: d.sample_ddpm(_nan_when(lambda t: t == 4), S, X, progress=False),
        r"eps_theta returned NaN or inf at t = 4 \(call 7 of 10\)",
    ),
    (  # leading grid for 5 of 10 steps: 9, 7, 5, 3, 1
        lambda: d.sample_ddim(
            _nan_when(lambda t: t == 5), S, X, steps=5, eta=1.0, progress=False
        ),
        r"eps_theta returned NaN or inf at t = 5 \(call 3 of 5\)",
    ),
    (
        lambda: d.ddim_invert(
            _nan_when(lambda t: t == 7), S, X, steps=5, progress=False
        ),
        r"eps_theta returned NaN or inf at t = 7 \(call 4 of 5\)",
    ),
    (
        lambda: d.sample_dpm_solver(
            _nan_when(lambda t: t < 5), S, X, steps=5, progress=False
        ),
        r"eps_theta returned NaN or inf at t = [1-4] \(call \d of 5\)",
    ),
    (  # grid 1, 0.8, 0.6, 0.4, 0.2: the step from 0.4 is call 4
        lambda: d.sample_reverse_sde(
            _nan_when(lambda t: t < 0.5), VP, X, steps=4, t_eps=0.2, progress=False
        ),
        r"score_fn returned NaN or inf at t = 0\.4 \(call 4 of 4\)",
    ),
    (  # Heun calls at (1, 0.8), (0.8, 0.6), (0.6, 0.4), ...: 0.4 is call 6
        lambda: d.sample_pf_ode(
            _nan_when(lambda t: t < 0.5), VP, X, steps=4, t_eps=0.2, progress=False
        ),
        r"score_fn returned NaN or inf at t = 0\.4 \(call 6 of 8\)",
    ),
    (
        lambda: d.sample_pf_ode(
            _nan_when(lambda t: t < 0.5), VP, X, method="rk45", rtol=1e-2, atol=1e-2
        ),
        r"score_fn returned NaN or inf at t = 0\.4\d*",
    ),
    (
        lambda: d.sample_flow(_nan_when(lambda t: t < 0.5), X, steps=5),
        r"v_theta returned NaN or inf at t = 0\.4 \(call 4 of 5\)",
    ),
    (
        lambda: d.langevin(_nan_from_call(4), X, step_size=0.01, n_steps=6),
        r"score_fn returned NaN or inf \(call 4 of 6\)",
    ),
    (
        lambda: d.annealed_langevin(
            _nan_when(lambda sigma: sigma < 0.2), X, [1.0, 0.5, 0.1], steps_per_level=2
        ),
        r"score_fn returned NaN or inf at sigma = 0\.1 \(call 5 of 6\)",
    ),
    (  # B = 4 rows and batch_size 8: two steps per call, (1, 2), (3, 4), ...
        lambda: d.vlb_terms_bpd(
            _nan_when(lambda t: t == 7), S, GRID_X, bins=9, batch_size=8
        ),
        r"eps_theta returned NaN or inf at t in \[7, 8\] \(call 4 of 5\)",
    ),
    (
        lambda: d.ode_log_likelihood(
            _nan_when(lambda t: t > 0.5), VP, X, rtol=1e-2, atol=1e-2
        ),
        r"score_fn returned NaN or inf at t = 0\.[5-9]",
    ),
]


@pytest.mark.parametrize("run, pattern", LATER, ids=[p[:24] for _, p in LATER])
def test_nan_appearing_later_fails_at_the_end_naming_its_step(run, pattern):
    with pytest.raises(FloatingPointError, match=pattern):
        run()


def test_the_watch_reads_the_later_outputs_only_at_the_end():
    """Later calls only keep a sum on the device: the NaN of call 2 surfaces in the
    final check, not in the call."""
    outputs = iter([X, X + math.nan, X])
    watched, check_later_outputs = watch_model(lambda x, t: next(outputs), "f")
    assert torch.equal(watched(X, 3), X)
    assert watched(X, 2).isnan().all()  # passed through: no host read, no error yet
    assert torch.equal(watched(X, 1), X)
    with pytest.raises(FloatingPointError, match=r"^f returned NaN or inf at t = 2 "):
        check_later_outputs()


# ----------------------------------------------------------------- edge cases that work
def test_valid_edge_cases_still_work():
    one = X[:1]
    eps_theta = GM.eps_model(S)
    assert d.sample_ddpm(eps_theta, S, one, progress=False).shape == (1, 2)
    assert d.sample_ddpm(eps_theta, S, one, t_start=1, progress=False).shape == (1, 2)
    assert d.sample_ddim(eps_theta, S, one, steps=T, eta=0, progress=False).shape == (
        1,
        2,
    )
    assert d.sample_ddim(eps_theta, S, X, steps=1, eta=0.0, progress=False).shape == (
        4,
        2,
    )
    assert float(d.ddim_sigma(S, T, 0, 0)) == 0.0  # eta = 0 at t = T, t_prev = 0
    assert float(d.ddim_sigma(S, 1, 0, 1.0)) == 0.0  # t = 1 to clean data
    for t in (1, T):
        assert torch.isfinite(cg()(X, t)).all() and torch.isfinite(cfg()(X, t)).all()
        assert MLP(X, torch.full((4,), t)).shape == (4, 2)
    assert float(d.step_to_time(0, T)) == 0.0 and float(d.step_to_time(T, T)) == 1.0
    assert d.time_to_step(0.0, T).item() == 1 and d.time_to_step(1.0, T).item() == T
    assert d.loss_simple(eps_theta, S, one).ndim == 0
    assert d.vlb_terms_bpd(eps_theta, S, GRID_X[:1], bins=9)["total"].shape == (1,)
    assert d.UNetConfig(**{**TINY_UNET, "ch_mult": [1, 2]}).ch_mult == (1, 2)
    net = d.UNet(d.UNetConfig(**{**TINY_UNET, "num_res_blocks": 0}))
    assert net(IMG4, torch.tensor([1, T])).shape == IMG4.shape


def test_a_model_in_float64_for_float32_data_is_accepted():
    x = X.float()
    out = d.sample_ddim(lambda x, t: x.double() * 0, S, x, steps=3, progress=False)
    assert out.shape == x.shape


def test_the_checks_do_not_change_a_result():
    """The watched sampler equals the same loop written out with ddim_step."""
    eps_theta = GM.eps_model(S)
    grid = d.ddim_timesteps(T, 5).tolist()
    x = X.double()
    for t, t_prev in zip(grid, grid[1:] + [0]):
        x = d.ddim_step(S, eps_theta(x, t), x, t, t_prev)
    out = d.sample_ddim(eps_theta, S, X.double(), steps=5, progress=False)
    assert torch.equal(out, x)
