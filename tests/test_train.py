"""The training loop: EMA, warm-up, clipping, the data order, bad input, and exact resumption
after SIGKILL and after Ctrl-C, run for real in subprocesses."""

import copy
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import ddpm_lite
from ddpm_lite import checkpoint
from ddpm_lite.train import TrainConfig, batch_indices, ema_update, train, warmup_lr
from ddpm_lite.unet import UNet, UNetConfig

ROOT = Path(__file__).resolve().parents[1]
# A tiny MLP on two moons: 60 steps, a checkpoint every 10.
TINY = dict(
    model="mlp",
    model_overrides={"hidden": 16, "depth": 1, "time_dim": 8},
    dropout=0.0,
    dataset="two_moons",
    n_toy=256,
    T=50,
    steps=60,
    batch_size=32,
    lr=1e-3,
    warmup=5,
    ema_decay=0.9,
    sample_every=0,
    checkpoint_every=10,
    keep=0,
    progress=False,
    device="cpu",
)
TINY_FLAGS = [
    "--model",
    "mlp",
    "--model-overrides",
    '{"hidden": 16, "depth": 1, "time_dim": 8}',
    "--dropout",
    "0",
    "--dataset",
    "two_moons",
    "--n-toy",
    "256",
    "--T",
    "50",
    "--steps",
    "60",
    "--batch-size",
    "32",
    "--lr",
    "1e-3",
    "--warmup",
    "5",
    "--ema-decay",
    "0.9",
    "--sample-every",
    "0",
    "--checkpoint-every",
    "10",
    "--keep",
    "0",
    "--no-progress",
    "--device",
    "cpu",
]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def test_ema_update_is_one_step_of_the_formula():
    torch.manual_seed(0)
    model, ema = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = [p.detach().clone() for p in ema.parameters()]
    ema_update(ema, model, 0.9)
    for e, e0, p in zip(ema.parameters(), before, model.parameters()):
        torch.testing.assert_close(
            e, 0.9 * e0 + 0.1 * p, rtol=1e-6, atol=1e-7
        )  # theta_ema <- d theta_ema + (1-d) theta


def test_ema_update_matches_the_per_tensor_update_bit_for_bit():
    """The fused update does the arithmetic of e.mul_(d).add_(p, alpha=1 - d), exactly."""
    torch.manual_seed(0)
    model = UNet(
        UNetConfig(ch=8, ch_mult=(1, 2), attn_resolutions=(4,), resolution=8, groups=4)
    )
    ema, by_hand = copy.deepcopy(model), copy.deepcopy(model)
    for _ in range(3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
            for e, p in zip(by_hand.parameters(), model.parameters()):
                e.mul_(0.99).add_(p, alpha=1 - 0.99)
        ema_update(ema, model, 0.99)
    for (name, e), h in zip(ema.named_parameters(), by_hand.parameters()):
        assert torch.equal(e, h), name


def test_warmup_values():
    assert warmup_lr(1, lr=2e-4, warmup=5000) == pytest.approx(2e-4 / 5000)
    assert warmup_lr(2500, lr=2e-4, warmup=5000) == pytest.approx(1e-4)
    assert warmup_lr(5000, lr=2e-4, warmup=5000) == 2e-4
    assert warmup_lr(9000, lr=2e-4, warmup=5000) == 2e-4
    assert warmup_lr(1, lr=2e-4, warmup=0) == 2e-4


def test_loop_uses_warmup_lr(tmp_path):
    """The optimizer's lr at step 2 of a 4-step warm-up, as saved in the checkpoint, is lr * 2/4."""
    res = train(
        TrainConfig(
            **{
                **TINY,
                "steps": 2,
                "warmup": 4,
                "checkpoint_every": 2,
                "out_dir": str(tmp_path),
            }
        )
    )
    groups = checkpoint.load_checkpoint(res.checkpoint).meta["optimizer"][
        "param_groups"
    ]
    assert groups[0]["lr"] == pytest.approx(1e-3 * 2 / 4)


def _grad_norms_at_step(clip: float) -> list:
    norms = []

    def hook(opt, args, kwargs):
        grads = [
            p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None
        ]
        norms.append(
            float(
                torch.linalg.vector_norm(
                    torch.stack([torch.linalg.vector_norm(g) for g in grads])
                )
            )
        )

    from torch.optim.optimizer import register_optimizer_step_pre_hook

    handle = register_optimizer_step_pre_hook(hook)
    try:
        train(
            TrainConfig(
                **{**TINY, "steps": 3, "checkpoint_every": 0, "grad_clip": clip}
            )
        )
    finally:
        handle.remove()
    return norms


def test_gradient_clipping_is_applied():
    unclipped = _grad_norms_at_step(0.0)
    assert min(unclipped) > 0.05  # so a clip at 0.01 has something to do
    clipped = _grad_norms_at_step(0.01)
    assert len(clipped) == 3 and max(clipped) <= 0.01 * (1 + 1e-5)


def test_data_order_covers_each_epoch_and_shards_the_batch():
    n, batch = 50, 20  # 5 steps = 2 epochs
    seen = torch.cat([batch_indices(3, k, n=n, batch=batch) for k in range(1, 6)])
    assert sorted(seen[:50].tolist()) == list(range(50)) and sorted(
        seen[50:].tolist()
    ) == list(range(50))
    for k in (1, 3):  # two ranks split the global batch exactly
        shards = [
            batch_indices(3, k, n=n, batch=batch, rank=r, world_size=2) for r in (0, 1)
        ]
        assert sorted(torch.cat(shards).tolist()) == sorted(
            batch_indices(3, k, n=n, batch=batch).tolist()
        )
    assert not torch.equal(
        batch_indices(3, 1, n=n, batch=batch), batch_indices(4, 1, n=n, batch=batch)
    )


@pytest.mark.parametrize(
    "field, value",
    [
        ("model", "nope"),
        ("dataset", "nope"),
        ("steps", 0),
        ("lr", 0.0),
        ("lr", -1e-3),
        ("ema_decay", 1.0),
        ("ema_decay", -0.1),
        ("batch_size", 0),
        ("schedule", "quadratic"),
        ("p_uncond", 1.5),
        ("warmup", -1),
        ("device", "cpu:x"),
        ("device", "cuda:"),
        ("T", 4 * 10**8),
        ("seed", 2**64),
        ("model_overrides", {"hidden": "16"}),
    ],
)
def test_bad_config_raises_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def test_function_api_with_in_memory_data_and_class_labels(tmp_path):
    """A notebook call: a tiny class-conditional U-Net on 40 digits-like images, bf16, with a sample grid."""
    x = torch.rand(40, 1, 8, 8) * 2 - 1
    y = torch.arange(40) % 4
    c = TrainConfig(
        model="digits8",
        model_overrides={"ch": 8, "groups": 4},
        dropout=0.1,
        dataset="digits",
        T=20,
        steps=3,
        batch_size=8,
        warmup=2,
        ema_decay=0.5,
        class_conditional=True,
        bf16=True,
        sample_every=3,
        sample_steps=2,
        n_samples=4,
        checkpoint_every=0,
        out_dir=str(tmp_path),
        progress=False,
        device="cpu",
    )
    res = train(c, data=(x, y))
    assert (
        res.step == 3
        and len(res.losses) == 3
        and all(math.isfinite(v) for v in res.losses)
    )
    assert res.model.config.num_classes == 4 and res.checkpoint is None
    assert (tmp_path / "samples" / "step_000003.png").is_file()
    assert any(
        not torch.equal(a, b)
        for a, b in zip(res.model.parameters(), res.ema.parameters())
    )


# ---------------------------------------------------------------------------- real interruptions
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted 60-step run (same settings as the subprocesses, one thread)."""
    out = tmp_path_factory.mktemp("uninterrupted")
    train(TrainConfig(**TINY, out_dir=str(out)))
    return checkpoint.load_checkpoint(out / "ckpt-000060.json")


def _start_slow(out: Path, pause: float = 0.05) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-u",
        str(ROOT / "tests" / "_train_slowly.py"),
        str(pause),
        *TINY_FLAGS,
        "--out-dir",
        str(out),
    ]
    return subprocess.Popen(
        cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _resume_to_end(out: Path) -> checkpoint.Checkpoint:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ddpm_lite",
            "train",
            *TINY_FLAGS,
            "--out-dir",
            str(out),
            "--resume",
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return checkpoint.load_checkpoint(out / "ckpt-000060.json")


def _assert_bitwise_equal(a: checkpoint.Checkpoint, b: checkpoint.Checkpoint) -> None:
    for prefix in ("model", "ema", "optim"):
        sa, sb = a.state(prefix), b.state(prefix)
        assert sa.keys() == sb.keys() and sa
        for k in sa:
            assert torch.equal(sa[k], sb[k]), f"{prefix}.{k} differs"


def test_sigkill_then_resume_is_bitwise_equal_to_uninterrupted(tmp_path, reference):
    proc = _start_slow(tmp_path)
    deadline = time.monotonic() + 60
    while checkpoint.latest_checkpoint(tmp_path) is None:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    killed_at = int(checkpoint.load_checkpoint(tmp_path).meta["step"])
    assert killed_at < 60  # it really died part-way
    _assert_bitwise_equal(_resume_to_end(tmp_path), reference)


def test_sigint_saves_a_checkpoint_first_then_resume_is_exact(tmp_path, reference):
    proc = _start_slow(tmp_path)
    for line in proc.stdout:  # wait until step 13 is done
        if line.strip() == "step 13":
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    step = int(checkpoint.load_checkpoint(tmp_path).meta["step"])
    assert 13 <= step < 60 and step % 10 != 0, (
        step
    )  # written by the interrupt, not the schedule
    assert "interrupted" in err
    _assert_bitwise_equal(_resume_to_end(tmp_path), reference)


def test_linear_schedule_is_stretched_to_any_T():
    from ddpm_lite.train_config import SCHEDULES

    assert torch.equal(
        SCHEDULES["linear"](1000).beta, ddpm_lite.linear_schedule().beta
    )  # the paper's at T = 1000
    for T in (20, 50, 100, 250):
        assert SCHEDULES["linear"](T).alpha_bar[T] < 1e-3, T  # x_T is noise at every T


def test_one_seed_records_the_same_rng_states(tmp_path):
    """train seeds python's random and numpy's generator too: two runs with one seed
    save identical RNG states, whatever the process drew before."""
    import random

    import numpy as np

    states = []
    for i in range(2):
        random.random(), np.random.rand(3 + i)  # different histories before each run
        random.seed(100 + i)
        np.random.seed(100 + i)
        out = tmp_path / f"run{i}"
        train(TrainConfig(**{**TINY, "steps": 10, "out_dir": str(out)}))
        states.append(checkpoint.load_checkpoint(out))
    a, b = states
    assert a.meta["rng"] == b.meta["rng"]  # python and numpy
    assert torch.equal(a.tensors["rng.torch_cpu"], b.tensors["rng.torch_cpu"])
