"""Two processes on gloo through torchrun: the run finishes, only rank 0 writes checkpoints,
and both ranks end with identical weights (each writes a digest of its model and EMA)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from ddpm_lite.checkpoint import load_checkpoint, load_model

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_run(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        str(ROOT / "tests" / "_ddp_worker.py"),
        "--model",
        "mlp",
        "--model-overrides",
        '{"hidden": 16, "depth": 1, "time_dim": 8}',
        "--dropout",
        "0",
        "--dataset",
        "two_moons",
        "--n-toy",
        "128",
        "--T",
        "20",
        "--steps",
        "6",
        "--batch-size",
        "16",
        "--checkpoint-every",
        "3",
        "--sample-every",
        "0",
        "--no-progress",
        "--device",
        "cpu",
        "--out-dir",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "writers.txt").read_text().split() == [
        "0",
        "0",
    ]  # steps 3 and 6, rank 0 only
    digests = [(out / f"rank{r}.sha256").read_text() for r in (0, 1)]
    assert digests[0] == digests[1]
    ck = load_checkpoint(out)
    assert ck.meta["step"] == 6 and ck.meta["data"]["world_size"] == 2
    model = load_model(out, ema=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())
