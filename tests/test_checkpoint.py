"""Checkpoints: exact round trip, atomic writes that survive a crash, and loading that never runs code."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ddpm_lite import checkpoint
from ddpm_lite.checkpoint import (
    atomic_write_bytes,
    latest_checkpoint,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from ddpm_lite.mlp import MLPDenoiser
from ddpm_lite.model_spec import model_from_spec


def _trained_pair(seed: int = 0):
    torch.manual_seed(seed)
    model, ema = (
        MLPDenoiser(hidden=16, depth=1, time_dim=8),
        MLPDenoiser(hidden=16, depth=1, time_dim=8),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(4, 2), torch.tensor([1, 2, 3, 4])).square().mean().backward()
    opt.step()
    return model, ema, opt


def test_round_trip_is_exact(tmp_path):
    model, ema, opt = _trained_pair()
    path = save_checkpoint(
        tmp_path, step=7, model=model, ema=ema, optimizer=opt, config={"T": 50}
    )
    ck = load_checkpoint(tmp_path)  # a directory means its newest checkpoint
    assert ck.path == path and ck.meta["step"] == 7 and ck.meta["config"] == {"T": 50}
    for k, v in model.state_dict().items():
        assert torch.equal(ck.state("model")[k], v)
    fresh_model, _, fresh_opt = _trained_pair(seed=1)
    checkpoint.load_optimizer_state(fresh_opt, ck)
    for p, q in zip(model.parameters(), fresh_model.parameters()):
        a, b = opt.state[p], fresh_opt.state[q]
        assert all(torch.equal(a[k], b[k]) for k in ("step", "exp_avg", "exp_avg_sq"))
    rebuilt = load_model(path, ema=False)
    assert all(
        torch.equal(a, b) for a, b in zip(rebuilt.parameters(), model.parameters())
    )


_CRASH = """
import os, sys, torch
from ddpm_lite import checkpoint
from ddpm_lite.mlp import MLPDenoiser
torch.manual_seed(0)
model = MLPDenoiser(hidden=16, depth=1, time_dim=8)
checkpoint.save_checkpoint(sys.argv[1], step=10, model=model, ema=model)
print("saved 10", flush=True)

def die(src, dst):                   # the temp file is fully written and fsynced: now the power goes
    assert os.path.getsize(src) > 0 and os.path.dirname(src) == os.path.dirname(dst)
    os._exit(3)

checkpoint.os.replace = die
with torch.no_grad():
    model.out.weight.add_(1.0)
checkpoint.save_checkpoint(sys.argv[1], step=20, model=model, ema=model)
"""


def test_crash_while_writing_leaves_the_previous_checkpoint(tmp_path):
    """A process that dies (os._exit, no cleanup) between writing the temp file and the rename."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", _CRASH, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 3 and "saved 10" in done.stdout, done.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert [n for n in names if not n.startswith(".")] == [
        "ckpt-000010.json",
        "ckpt-000010.safetensors",
    ]
    assert any(
        n.startswith(".ckpt-000020.safetensors.") for n in names
    )  # the orphaned temp file
    ck = load_checkpoint(tmp_path)
    assert ck.meta["step"] == 10
    torch.manual_seed(0)
    fresh = MLPDenoiser(hidden=16, depth=1, time_dim=8)
    assert torch.equal(ck.state("model")["out.weight"], fresh.out.weight)


def test_failed_write_cleans_up_and_keeps_the_previous_checkpoint(
    tmp_path, monkeypatch
):
    model, ema, opt = _trained_pair()
    save_checkpoint(tmp_path, step=10, model=model, ema=ema, optimizer=opt)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def fail(src, dst):
        raise OSError("simulated failure before the rename")

    monkeypatch.setattr(checkpoint.os, "replace", fail)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(tmp_path, step=20, model=model, ema=ema, optimizer=opt)
    monkeypatch.undo()
    assert {
        p.name: p.read_bytes() for p in tmp_path.iterdir()
    } == before  # nothing new, nothing partial
    assert load_checkpoint(tmp_path).meta["step"] == 10


def test_crash_between_tensors_and_sidecar_keeps_the_previous_checkpoint(
    tmp_path, monkeypatch
):
    model, ema, opt = _trained_pair()
    save_checkpoint(tmp_path, step=10, model=model, ema=ema, optimizer=opt)
    real = checkpoint.atomic_write_bytes

    def crash_on_json(path, data):
        if str(path).endswith(".json"):
            raise OSError("simulated crash")
        real(path, data)

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", crash_on_json)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path, step=20, model=model, ema=ema, optimizer=opt)
    assert (
        tmp_path / "ckpt-000020.safetensors"
    ).exists()  # orphan tensors, no commit record
    assert latest_checkpoint(tmp_path).name == "ckpt-000010.json"
    assert load_checkpoint(tmp_path).meta["step"] == 10


def test_atomic_write_replaces_whole_file_or_nothing(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    monkeypatch.setattr(
        checkpoint.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("disk gone"))
    )
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == [
        "f.bin"
    ]


def test_torn_or_tampered_tensors_are_refused(tmp_path):
    model, ema, opt = _trained_pair()
    path = save_checkpoint(tmp_path, step=1, model=model, ema=ema, optimizer=opt)
    weights = path.with_suffix(".safetensors")
    blob = bytearray(weights.read_bytes())
    blob[-3] ^= 0xFF  # one flipped byte inside the tensor data
    weights.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="digest"):
        load_checkpoint(path)


class _Evil:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker, bad = tmp_path / "pwned", tmp_path / "model.pt"
    torch.save({"weight": torch.zeros(2), "payload": _Evil(marker)}, bad)
    with pytest.raises(ValueError, match="refusing"):
        load_checkpoint(bad)
    with pytest.raises(ValueError):
        load_model(bad)
    assert not marker.exists()
    # The payload is real: an unsafe loader would have run it.
    torch.load(bad, weights_only=False)
    assert marker.exists()


def test_plain_pt_state_dict_loads_and_missing_file_is_a_value_error(tmp_path):
    model, _, _ = _trained_pair()
    torch.save(model.state_dict(), tmp_path / "plain.pt")
    ck = load_checkpoint(tmp_path / "plain.pt")
    assert torch.equal(ck.state("model")["out.weight"], model.out.weight)
    with pytest.raises(ValueError, match="checkpoint"):
        load_checkpoint(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="checkpoint"):
        load_checkpoint(tmp_path / "empty_dir_missing")


def test_prune_keeps_the_newest(tmp_path):
    model, ema, opt = _trained_pair()
    for step in (1, 2, 3):
        save_checkpoint(
            tmp_path, step=step, model=model, ema=ema, optimizer=opt, keep=2
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt-000002.json",
        "ckpt-000002.safetensors",
        "ckpt-000003.json",
        "ckpt-000003.safetensors",
    ]


@pytest.mark.parametrize(
    "spec, words",
    [
        ({"kind": "mlp", "hidden": 12000, "depth": 40}, "parameters"),  # 23 GB
        ({"kind": "mlp", "hidden": 16, "depth": 10**9}, "depth must be an integer"),
        ({"kind": "mlp", "hidden": 16.0}, "hidden must be an integer"),
        ({"kind": "mlp", "hidden": 16, "bogus": 1}, "unknown mlp fields"),
        ({"kind": "unet", "config": {"ch": 4096, "ch_mult": [8] * 16}}, "ch_mult"),
        ({"kind": "unet", "config": {"ch": 2048, "ch_mult": [1, 2, 4]}}, "parameters"),
        ({"kind": "unet", "config": {"groups": 0}}, "groups"),
        ({"kind": "unet", "config": {"dropout": float("nan")}}, "dropout"),
        ({"kind": "unet", "config": [1]}, "model.config"),
        ({"kind": "dit", "config": {"depth": 5000}}, "depth"),
        ({"kind": "dit", "config": {"mlp_ratio": 1e9}}, "mlp_ratio"),
        ({"kind": "resnet"}, "model kind"),
        ([1, 2], "model kind"),
    ],
)
def test_model_specs_are_bounded_before_they_are_built(tmp_path, spec, words):
    import time

    start = time.perf_counter()
    with pytest.raises(ValueError, match=words):
        model_from_spec(spec)
    assert time.perf_counter() - start < 5  # refused from the numbers, not by trying


def test_every_course_model_spec_passes():
    for side in sorted(checkpoint.COURSE_MODELS.glob("*/*.json")):
        meta = __import__("json").loads(side.read_text())
        checkpoint.check_sidecar(meta, side.name)


@pytest.mark.parametrize(
    "edit, words",
    [
        ({"model": {"kind": "mlp", "hidden": 12000, "depth": 40}}, "parameters"),
        ({"config": {"T": 4e8}}, "config.T must be an integer in 1..100000"),
        ({"config": {"T": 0}}, "config.T"),
        ({"config": {"T": True}}, "config.T"),
        ({"config": "linear"}, "config must be"),
        ({"step": -1}, "step"),
        ({"sha256": 7}, "sha256"),
    ],
)
def test_a_sidecar_is_checked_before_its_tensors_are_opened(tmp_path, edit, words):
    import json

    model, _, _ = _trained_pair()
    side = save_checkpoint(tmp_path, step=3, model=model, config={"T": 50})
    side.with_suffix(".safetensors").unlink()  # were it opened, that would be the error
    meta = json.loads(side.read_text())
    meta.update(edit)
    side.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=words):
        load_checkpoint(side)


def test_garbage_tensor_files_and_a_wrong_architecture_are_value_errors(tmp_path):
    import json

    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="not a safetensors file"):
        load_checkpoint(tmp_path / "empty.safetensors")
    model, _, _ = _trained_pair()
    side = save_checkpoint(tmp_path / "run", step=1, model=model)
    meta = json.loads(side.read_text())
    meta["model"]["hidden"] = 32  # the sidecar of another architecture
    side.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="do not fit the mlp"):
        load_model(side)
