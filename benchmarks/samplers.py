"""Our DDIM, DPM-Solver++ and UniPC beside diffusers' schedulers, on the exact 2-D Gaussian-mixture oracle.

For 5, 10, 20, 50 and 100 model evaluations (NFE), from the same x_T, it prints
  * RMSE against the exact probability-flow ODE solution (scipy DOP853, rtol 1e-11), and
  * dNLL = mean(-log p(samples)) - mean(-log p(true samples)) under the true mixture
    (0 is perfect; the Monte Carlo noise of dNLL is printed once),
for our sampler and diffusers' (its default float32 tables, as a user would run it), and the
ratio ours / diffusers. A third column drives diffusers with our float64 tables: then the same
algorithm must give the same numbers, and any ratio != 1 in the default column comes from its
float32 tables alone.

Run: python benchmarks/samplers.py   (about a minute on one CPU core)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _references import (
    diffusers_ddim,
    diffusers_dpm_solver,
    diffusers_unipc,
    pf_ode_reference,
    toy_mixture,
)  # noqa: E402

from ddpm_lite import linear_schedule  # noqa: E402
from ddpm_lite.dpm_solver import half_log_snr, sample_dpm_solver  # noqa: E402
from ddpm_lite.samplers import sample_ddim  # noqa: E402
from ddpm_lite.unipc import sample_unipc  # noqa: E402

NFES = (5, 10, 20, 50, 100)
N = 4000


def main() -> None:
    torch.set_num_threads(1)  # tiny tensors: threads only contend
    s, gm = linear_schedule(1000), toy_mixture()
    model = gm.eps_model(s)
    x_T = torch.randn(
        N, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    lam = half_log_snr(s)
    t0 = time.time()
    exact = pf_ode_reference(gm, lam[s.T].item(), lam[1].item(), x_T)
    true = gm.sample(N, generator=torch.Generator().manual_seed(1))
    nll_true = -gm.log_prob(true)
    se = (nll_true.var() * 2 / N).sqrt().item()

    def rmse(x):
        return (x - exact).pow(2).sum(1).mean().sqrt().item()

    def dnll(x):
        return (-gm.log_prob(x)).mean().item() - nll_true.mean().item()

    samplers = {
        "DDIM (leading)": (
            lambda n: sample_ddim(model, s, x_T, steps=n, progress=False),
            lambda n: diffusers_ddim(model, s, x_T, n),
            lambda n: diffusers_ddim(model, s, x_T, n, float64=True),
        ),
        "DPM-Solver++ 2M": (
            lambda n: sample_dpm_solver(model, s, x_T, steps=n, progress=False),
            lambda n: diffusers_dpm_solver(model, s, x_T, n),
            lambda n: diffusers_dpm_solver(model, s, x_T, n, float64=True),
        ),
        "UniPC bh2 (p=2)": (
            lambda n: sample_unipc(model, s, x_T, steps=n, progress=False),
            lambda n: diffusers_unipc(model, s, x_T, n),
            lambda n: diffusers_unipc(model, s, x_T, n, float64=True),
        ),
    }
    print(
        f"2-D mixture of 3 Gaussians, {N} points, linear schedule T=1000, exact eps;\n"
        f"exact ODE solution: dNLL = {dnll(exact):+.4f} (Monte Carlo s.e. of dNLL ~ {se:.4f})\n"
    )
    head = (
        f"{'sampler':<16} {'NFE':>4} | {'RMSE ours':>10} {'diffusers':>10} {'ratio':>6} "
        f"{'df64 ratio':>10} | {'dNLL ours':>9} {'diffusers':>9} {'ratio':>6}"
    )
    print(head)
    print("-" * len(head))
    for name, (ours, theirs, theirs64) in samplers.items():
        for n in NFES:
            a, b, c = ours(n), theirs(n), theirs64(n)
            ra, rb, rc = rmse(a), rmse(b), rmse(c)
            da, db = dnll(a), dnll(b)
            print(
                f"{name:<16} {n:>4} | {ra:>10.3e} {rb:>10.3e} {ra / rb:>6.3f} {ra / rc:>10.6f} | "
                f"{da:>+9.4f} {db:>+9.4f} {da / db if db else float('nan'):>6.3f}"
            )
        print()
    print(f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
