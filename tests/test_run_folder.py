"""A run folder is never lost: export, a second run, two writers, NaN, no room, damage.

Each test plays one way a user used to lose work, and checks that the files they had are
still there, byte for byte, and that the error names what to do.
"""

import json
import os
import subprocess
import sys
import warnings

import pytest
import torch
from safetensors.torch import load as st_load
from test_train import TINY

from ddpm_lite import checkpoint, run_folder
from ddpm_lite.train import TrainConfig, train


def config(out, **over):
    return TrainConfig(**{**TINY, "steps": 20, "keep": 2, "out_dir": str(out), **over})


def files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def run(tmp_path):
    """A finished 20-step run with checkpoints at 10 and 20."""
    out = tmp_path / "run"
    train(config(out))
    assert [p.name for p in checkpoint.list_checkpoints(out)] == [
        "ckpt-000010.json",
        "ckpt-000020.json",
    ]
    return out


def test_export_into_the_run_folder_deletes_and_replaces_nothing(run):
    before = files(run)
    side = checkpoint.export_model(run, run)
    after = files(run)
    assert {k: after[k] for k in before} == before  # every file kept, unchanged
    assert sorted(set(after) - set(before)) == [
        "model-000020.json",
        "model-000020.safetensors",
    ]
    assert checkpoint.list_checkpoints(run)[-1].name == "ckpt-000020.json"
    with pytest.raises(ValueError, match="already exist.*nothing was written"):
        checkpoint.export_model(run, run)
    assert files(run) == after
    # the run still resumes from its own checkpoint, and the export loads on its own
    result = train(config(run, steps=30, resume=True))
    assert result.step == 30
    assert checkpoint.load_model(side) is not None


def test_export_folder_alone_is_loadable_and_never_resumed(run, tmp_path):
    side = checkpoint.export_model(run, tmp_path / "exports")
    assert checkpoint.load_checkpoint(tmp_path / "exports").path == side
    with pytest.raises(ValueError, match="exported network, not a training checkpoint"):
        train(config(tmp_path / "exports", resume=True, steps=30))


def test_a_fresh_run_refuses_a_folder_with_checkpoints(run):
    before = files(run)
    with pytest.raises(
        ValueError, match="already holds 2 checkpoint.*--resume.*--overwrite"
    ):
        train(config(run, seed=1))
    assert files(run) == before and not (run / run_folder.LOCK).exists()
    result = train(config(run, seed=1, steps=10, overwrite=True))  # asked for
    assert result.step == 10
    assert [p.name for p in checkpoint.list_checkpoints(run)] == ["ckpt-000010.json"]
    assert checkpoint.load_checkpoint(run).meta["config"]["seed"] == 1
    with pytest.raises(ValueError, match="resume and overwrite"):
        config(run, resume=True, overwrite=True)


def test_a_second_writer_is_stopped_and_a_stale_lock_is_taken_over(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = {"pid": owner.pid, "host": os.uname().nodename, "started": 0}
        (out / run_folder.LOCK).write_text(json.dumps(lock))
        with pytest.raises(
            RuntimeError, match=f"in use by another run \\(pid {owner.pid}"
        ):
            train(config(out))
        assert not checkpoint.list_checkpoints(out)
    finally:
        owner.kill()
        owner.wait()
    with pytest.warns(UserWarning, match="stale lock"):
        train(config(out, steps=10))
    assert not (out / run_folder.LOCK).exists()  # released at the end
    assert checkpoint.load_checkpoint(out).meta["step"] == 10


@pytest.mark.parametrize("how", ["nan row", "nan row, no checkpoint due", "huge lr"])
def test_a_run_that_goes_nan_stops_before_saving_it(tmp_path, how):
    out = tmp_path / "run"
    x = torch.randn(64, 2)
    over = {"checkpoint_every": 1, "keep": 2, "steps": 40}
    if how.startswith("nan row"):
        x[5] = float("nan")
    if how == "nan row, no checkpoint due":  # only the loss can tell
        over["checkpoint_every"] = 0
    if how == "huge lr":
        over["lr"] = 1e6
    with pytest.raises(FloatingPointError, match="at step \\d+"):
        train(config(out, **over), data=x)
    for side in checkpoint.list_checkpoints(out):
        ck = checkpoint.load_checkpoint(side)
        weights = [ck.state("model"), ck.state("ema")]
        assert all(t.isfinite().all() for w in weights for t in w.values()), side.name


def test_an_unwritable_or_full_folder_fails_before_step_1(tmp_path, monkeypatch):
    target = tmp_path / "a_file"
    target.write_text("keep me")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        train(config(target))
    assert target.read_text() == "keep me"
    with pytest.raises(ValueError, match="not writable"):
        train(config(target / "below"))

    steps = []
    monkeypatch.setattr(
        run_folder.shutil, "disk_usage", lambda p: type("U", (), {"free": 1000})
    )
    with pytest.raises(ValueError, match="MiB free; checkpoints of this run need"):
        train(config(tmp_path / "full"), callback=lambda s, _loss: steps.append(s))
    assert steps == [] and not (tmp_path / "full" / run_folder.LOCK).exists()


def test_a_damaged_newest_checkpoint_falls_back_to_the_newest_intact(run):
    newest = run / "ckpt-000020.safetensors"
    blob = newest.read_bytes()
    damaged = blob[:-8] + bytes(b ^ 0xFF for b in blob[-8:])
    newest.write_bytes(damaged)
    with pytest.warns(UserWarning, match="skipping a damaged checkpoint.*ckpt-000020"):
        assert checkpoint.load_checkpoint(run).meta["step"] == 10
    with pytest.warns(UserWarning, match="ckpt-000020"):
        result = train(config(run, steps=30, resume=True))
    assert result.step == 30
    # step 20 was written again, intact, with the weights of the first run's step 20
    again = checkpoint.load_checkpoint(run / "ckpt-000020.json")
    first = st_load(blob)
    assert all(torch.equal(first[k], v) for k, v in again.tensors.items() if "." in k)


def test_debris_of_crashed_writes_is_removed_at_start(run):
    (run / ".ckpt-000030.safetensors.abc123.tmp").write_bytes(b"x" * 100)
    (run / "ckpt-000030.safetensors").write_bytes(b"y" * 100)  # its sidecar never came
    (run / "notes.txt").write_text("mine")
    with pytest.warns(UserWarning, match="removed 2 file"):
        train(config(run, steps=30, resume=True))
    names = {p.name for p in run.iterdir()}
    assert "notes.txt" in names and ".ckpt-000030.safetensors.abc123.tmp" not in names
    assert checkpoint.load_checkpoint(run).meta["step"] == 30


@pytest.mark.parametrize(
    "weights, message",
    [
        ("../../etc/passwd", "must be a file name in the same folder"),
        ("/dev/zero", "must be a file name in the same folder"),
        ("fifo", "not a regular file beside it"),
        (7, "must be a file name"),
    ],
)
def test_a_sidecar_cannot_point_outside_its_folder(run, weights, message):
    side = run / "ckpt-000020.json"
    meta = json.loads(side.read_text())
    meta["weights"] = weights
    side.write_text(json.dumps(meta))
    os.mkfifo(run / "fifo")
    with pytest.raises(ValueError, match=message):
        checkpoint.load_checkpoint(side)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert checkpoint.load_checkpoint(run).meta["step"] == 10


@pytest.mark.parametrize(
    "field", ["resume", "overwrite", "bf16", "download", "augment", "progress"]
)
def test_booleans_are_booleans(field):
    with pytest.raises(ValueError, match=f"{field} must be True or False"):
        TrainConfig(**{**TINY, field: "false"})


def test_the_command_line_says_it_in_one_line(run, tmp_path, capsys):
    from test_train import TINY_FLAGS

    from ddpm_lite.cli import main

    before = files(run)
    with pytest.raises(SystemExit) as exit_:
        main(["train", *TINY_FLAGS, "--out-dir", str(run)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and "--resume" in err[-1] and "--overwrite" in err[-1]
    assert files(run) == before
    assert main(["export", "--checkpoint", str(run), "--out-dir", str(run)]) == 0
    assert {k: v for k, v in files(run).items() if k in before} == before

    (run / run_folder.LOCK).write_text(
        json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "started": 0})
    )
    assert main(["train", *TINY_FLAGS, "--out-dir", str(run), "--resume"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "in use by another run" in err[0]
