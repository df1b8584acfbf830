"""Run the benchmarks and write their results into the book's appendix, book/performance.md.

    python benchmarks/performance.py                      # everything: about 15 minutes on 2 cores
    python benchmarks/performance.py --parts lessons      # only some parts; the others are kept

Parts: samplers (benchmarks/samplers.py), unet (benchmarks/unet_speed.py), train
(benchmarks/train_digits.py) and lessons (every notebook under strict nbval in one pytest
process, the way the test command runs them). Each part's section of the page sits between
HTML comment markers, so a partial run replaces only its own sections. Run it on a quiet
machine: the numbers are wall times.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "performance.md"
PARTS = ("machine", "samplers", "unet", "train", "lessons")

INTRO = """# Measured performance

Every number on this page was measured by the scripts in `benchmarks/`, on the machine described
below, and written here by one command, run from the repository's root:

```bash
.venv/bin/python benchmarks/performance.py
```

Each section names the script that produced it; `--parts` reruns only some sections. Wall times
depend on the machine and on what else it is doing: compare numbers from the same run.
"""


def run(args: list[str]) -> tuple[str, float]:
    """Run a command from the repository root; (stdout, seconds). Fails loudly."""
    start = time.perf_counter()
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(
            f"{' '.join(args)} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        )
    return out.stdout, seconds


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        kib = int(
            re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)
        )
        return f"{kib / 2**20:.0f} GiB"
    except (OSError, AttributeError):
        return "unknown"


def part_machine() -> str:
    import torch

    try:
        import diffusers

        diffusers_version = diffusers.__version__
    except ImportError:
        diffusers_version = "not installed"
    rows = [
        ("date", datetime.date.today().isoformat()),
        ("CPU", _cpu_model()),
        ("cores", str(os.cpu_count())),
        ("memory", _memory_gib()),
        ("GPU", "none used"),
        ("Python", platform.python_version()),
        ("torch", torch.__version__),
        ("torch threads", str(torch.get_num_threads())),
        ("diffusers", diffusers_version),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return f"## The machine\n\n| | |\n|---|---|\n{table}\n"


def part_samplers() -> str:
    out, seconds = run([sys.executable, "benchmarks/samplers.py"])
    return (
        "## Samplers against diffusers\n\n"
        "`benchmarks/samplers.py`: our DDIM, DPM-Solver++ (2M) and UniPC (bh2, order 2) against diffusers'\n"
        "`DDIMScheduler`, `DPMSolverMultistepScheduler` and `UniPCMultistepScheduler`, driven by the exact\n"
        "noise prediction of a 2-D Gaussian mixture, so\n"
        "every error is the sampler's. RMSE is against the exact probability-flow ODE solution; dNLL is the\n"
        "mean negative log-likelihood of the samples under the true mixture minus that of true samples.\n"
        "A ratio of 1.000 means the same algorithm gives the same numbers.\n\n"
        f"```text\n{out.strip()}\n```\n\n(wall time of the script: {seconds:.0f} s)\n"
    )


def part_unet() -> str:
    out, _ = run(
        [sys.executable, "benchmarks/unet_speed.py", "--iters", "15", "--ablation"]
    )
    ratio = float(re.search(r"ratio ours / diffusers: ([0-9.]+)", out).group(1))
    work_ratio = float(
        re.search(
            r"multiply-adds per forward \+ backward: .* ratio ([0-9.]+)", out
        ).group(1)
    )
    return (
        "## The U-Net against diffusers\n\n"
        "`benchmarks/unet_speed.py --ablation`: one forward and backward pass of the paper's CIFAR-10 network\n"
        "(35.7M parameters), ours against diffusers' `UNet2DModel` with the `google/ddpm-cifar10-32`\n"
        "configuration, same inputs, float32 on the CPU, iterations interleaved so that load drifts hit both.\n"
        "The ablation rows time our network with one of its speed-ups undone, in the same run.\n\n"
        f"```text\n{out.strip()}\n```\n\n"
        f"Ratio {ratio:.3f}: ours takes {ratio:.3f} of diffusers' time in this run. Both networks spend\n"
        "most of their time in the same torch convolution kernels and get through arithmetic at about the\n"
        'same rate (the "done at" line), so the time ratio stays close to the ratio of their\n'
        f"multiply-adds, {work_ratio:.3f}; a slightly higher rate for ours (fewer passes over memory, a cheaper\n"
        "dropout mask) accounts for the rest. Going clearly below would need less arithmetic than plain\n"
        "convolutions do for this architecture, that is a different convolution algorithm (Winograd's,\n"
        "say), which this package does not adopt. The gains come from doing less work, or cheaper work,\n"
        "for the same function with the same parameters:\n\n"
        "- **Upsampling** (`ddpm_lite.unet.Upsample`): nearest-neighbour x2 followed by a 3x3 conv equals one\n"
        "  stride-2 transposed conv whose 4x4 kernel holds sums of the 3x3 taps, since a 3x3 window on the\n"
        "  upsampled grid sees only 2x2 distinct input pixels: 4 multiply-adds per output pixel and channel\n"
        "  pair instead of 9, and no 4x larger intermediate map.\n"
        "- **Dropout** (`Dropout`) draws its mask by comparing uniform numbers with p, cheaper on the CPU than\n"
        "  torch's Bernoulli sampler. On a GPU it is torch's own fused kernel.\n\n"
        "`tests/test_unet.py` checks each against the plain computation, values and gradients, in float64.\n"
        "The timings of a single iteration vary by about 10% on this shared machine, which is why the\n"
        "quartiles of the per-iteration ratios are printed beside the medians.\n"
    )


def part_train() -> str:
    out, _ = run([sys.executable, "benchmarks/train_digits.py"])
    r = json.loads(out)
    rows = "\n".join(
        f"| {h['steps']} | {h['train_seconds']} | {h['fd']} | {h['bar']} | {'yes' if h['passed'] else 'no'} |"
        for h in r["history"]
    )
    reached = r["reached_bar"]
    verdict = (
        f"The bar was met after **{reached['steps']} steps and {reached['train_seconds']} s** of training"
        if reached
        else "The bar was **not** met within the steps tried"
    )
    return (
        "## Training the digits model\n\n"
        "`benchmarks/train_digits.py`: the preset `digits` (the 0.7M-parameter U-Net of lessons 06-12, batch\n"
        f"128, {r['threads']} threads) trained from scratch, scored every {r['eval_every']} steps with the bar the shipped\n"
        "model is held to in the tests (`ddpm_lite.metrics.digits_quality`: Fréchet distance of 300 samples\n"
        "below 2.5 times the real-vs-real floor, every class present). Training time excludes scoring\n"
        f"({r['eval_seconds']} s in all).\n\n"
        "| steps | training time (s) | digits FD | bar | passed |\n|---|---|---|---|---|\n"
        f"{rows}\n\n{verdict}.\n"
    )


def lesson_seconds(junit_xml: Path) -> dict[str, float]:
    """Seconds per lesson from pytest's JUnit report: the sum over the lesson's cells
    (nbval makes one test of each cell, the kernel's start included in the first)."""
    import xml.etree.ElementTree as ET

    seconds: dict[str, float] = {}
    for case in ET.parse(junit_xml).iter("testcase"):
        # classname: the notebook's path with dots for slashes, "notebooks.00_x.ipynb"
        lesson = case.get("classname", "").removesuffix(".ipynb").rsplit(".", 1)[-1]
        seconds[lesson] = seconds.get(lesson, 0.0) + float(case.get("time", 0.0))
    return seconds


def part_lessons() -> str:
    lessons = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "lessons.xml"
        _, wall = run(
            [sys.executable, "scripts/lessons.py", "-q", "-p", "no:cacheprovider"]
            + [f"--junitxml={report}"]
        )
        seconds = lesson_seconds(report)
    missing = [nb.stem for nb in lessons if nb.stem not in seconds]
    if missing:
        raise SystemExit(f"no times in pytest's report for {missing}")
    rows = [f"| {nb.stem} | {seconds[nb.stem]:.0f} |" for nb in lessons]
    total = sum(seconds.values())
    return (
        "## Running the lessons\n\n"
        "Every lesson run top to bottom in quick mode under strict nbval, outputs compared with the\n"
        "committed ones, as the test command runs them (`scripts/lessons.py`: one lesson per core,\n"
        "each kernel with one torch thread, the longest first). A lesson's time is the sum over its\n"
        "cells, its kernel's start included; the last row is the wall time of the whole run, the\n"
        "start of Python and pytest included, beside the sum of the lessons' times. Measured\n"
        f"{datetime.date.today().isoformat()}, on the machine above if the dates agree.\n\n"
        "| lesson | seconds |\n|---|---|\n"
        + "\n".join(rows)
        + f"\n| **all, wall time** | **{wall:.0f}** ({wall / 60:.1f} min; the lessons' times add up"
        f" to {total:.0f}) |\n"
    )


def sections(text: str) -> dict[str, str]:
    return dict(
        re.findall(r"<!-- part:(\w+) -->\n(.*?)<!-- end:\1 -->", text, flags=re.S)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated, from {', '.join(PARTS)}",
    )
    args = ap.parse_args()
    wanted = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(wanted) - set(PARTS))
    if unknown:
        raise SystemExit(f"--parts must be taken from {PARTS}, got {unknown}")
    kept = sections(PAGE.read_text()) if PAGE.exists() else {}
    for name in wanted:
        print(f"running {name} ...", flush=True)
        kept[name] = globals()[f"part_{name}"]()
    missing = [p for p in PARTS if p not in kept]
    if missing:
        raise SystemExit(
            f"the page has no sections for {missing} yet: run them too (--parts {','.join(missing)})"
        )
    body = "\n".join(f"<!-- part:{p} -->\n{kept[p]}<!-- end:{p} -->\n" for p in PARTS)
    PAGE.write_text(INTRO + "\n" + body)
    print(f"wrote {PAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
