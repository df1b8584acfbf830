"""Two processes on gloo through torchrun: the run finishes, only rank 0 writes checkpoints,
and both ranks end with identical weights (each writes a digest of its model and EMA)."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
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


# ---------------------------------------------------------------------- launcher dies
_LAUNCHER = """
import os, subprocess, sys, time
n = int(sys.argv[1])
ranks = [{"RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": str(n)} for r in range(n)]
procs = [subprocess.Popen(sys.argv[2:], env={**os.environ, **e}) for e in ranks]
print(" ".join(str(p.pid) for p in procs), flush=True)
sys.exit(max(p.wait() for p in procs))
"""


def _gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie nobody reaped counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _wait_gone(pids, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(_gone(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_worker_ends_when_its_launcher_dies():
    """watch_parent alone: the child of a killed stand-in launcher ends in seconds."""
    child = (
        "import time; from ddpm_lite.distributed import watch_parent; "
        "watch_parent(poll=0.05); print('ready', flush=True); time.sleep(60)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    launcher = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, "1", sys.executable, "-c", child],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    pids = [int(p) for p in launcher.stdout.readline().split()]
    assert launcher.stdout.readline().strip() == "ready"
    launcher.kill()
    launcher.wait(10)
    assert _wait_gone(pids, 10), "the worker outlived its launcher"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_killing_the_launcher_stops_both_ranks_after_a_checkpoint(tmp_path):
    """Two gloo ranks under a stand-in for torchrun: SIGKILL the launcher mid-run; both
    ranks notice, stop at the same step boundary, and rank 0 saves that step first."""
    out = tmp_path / "run"
    worker = [sys.executable, "-u", str(ROOT / "tests" / "_train_slowly.py"), "0.05"]
    flags = [
        *("--model", "mlp", "--model-overrides", '{"hidden": 8, "depth": 1}'),
        *("--dataset", "two_moons", "--n-toy", "64", "--T", "20", "--steps", "300"),
        *("--batch-size", "8", "--checkpoint-every", "1000", "--sample-every", "0"),
        *("--dropout", "0", "--no-progress", "--device", "cpu", "--out-dir", str(out)),
    ]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(ROOT),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
    }
    launcher = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, "2", *worker, *flags],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    pids = [int(p) for p in launcher.stdout.readline().split()]
    try:
        for line in launcher.stdout:  # both ranks print "step N", maybe on one line
            if any(int(n) >= 3 for n in re.findall(r"step (\d+)", line)):
                break
        launcher.kill()
        launcher.wait(10)
        assert _wait_gone(pids, 30), "the workers outlived their launcher"
    finally:
        for pid in pids:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
    step = int(load_checkpoint(out).meta["step"])
    assert 3 <= step < 300  # written by the stop, not by the schedule
