"""Every way a careless user (or an attacker) can call `python -m ddpm_lite` wrongly ends
in one line on stderr that names the flag, exit status 2 (1 for the run's state), and no
traceback; `--debug` shows the traceback instead. Nothing here touches the network."""

import json
import os
import pickle

import pytest
import torch
from test_train import TINY_FLAGS

from ddpm_lite import run_folder
from ddpm_lite.checkpoint import save_checkpoint
from ddpm_lite.cli import main
from ddpm_lite.mlp import MLPDenoiser
from ddpm_lite.unet import UNet

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a CUDA-less host")


def fails(argv, capsys, status=2):
    """Run the command line in-process; return its one stderr line."""
    try:
        got = main(argv)
    except SystemExit as exit_:
        got = exit_.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert got == status, err
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("python -m ddpm_lite")
    return lines[0]


# ---------------------------------------------------------------------------- stand-in files
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Tiny checkpoints (an MLP, a U-Net, a class-conditional U-Net) and broken files."""
    root = tmp_path_factory.mktemp("files")
    torch.manual_seed(0)
    mlp = MLPDenoiser(hidden=16, depth=1, time_dim=8)
    toy = {"schedule": "linear", "T": 20, "dataset": "two_moons"}
    digits = {"schedule": "linear", "T": 20, "dataset": "digits"}
    unet = UNet.from_preset("digits8", ch=8, groups=4)
    cond = UNet.from_preset("digits8", ch=8, groups=4, num_classes=3)
    out = {
        "mlp": save_checkpoint(root / "mlp", step=1, model=mlp, ema=mlp, config=toy),
        "unet": save_checkpoint(root / "unet", step=1, model=unet, config=digits),
        "cond": save_checkpoint(root / "cond", step=1, model=cond, config=digits),
    }
    (root / "empty.safetensors").write_bytes(b"")
    (root / "random.safetensors").write_bytes(os.urandom(256))
    out["empty"], out["random"] = (
        root / "empty.safetensors",
        root / "random.safetensors",
    )

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > /dev/null",))

    out["evil"] = root / "evil.pt"
    out["evil"].write_bytes(pickle.dumps({"w": Evil()}))
    out["a_file"] = root / "a_file"
    out["a_file"].write_text("not a folder\n")
    out["root"] = root
    return out


def edited(files, tmp_path, name, edit):
    """A copy of checkpoint `name` whose sidecar JSON went through `edit` (digest intact)."""
    side = files[name]
    meta = json.loads(side.read_text())
    edit(meta)
    folder = tmp_path / f"edited-{name}"
    folder.mkdir()
    weights = side.with_suffix(".safetensors")
    (folder / weights.name).write_bytes(weights.read_bytes())
    (folder / side.name).write_text(json.dumps(meta))
    return folder / side.name


def sample(path, *more):
    return ["sample", "--checkpoint", str(path), "--no-progress", "--n", "2", *more]


# ---------------------------------------------------------------------------- train
def test_bare_train_says_what_data_it_needs_and_creates_nothing(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    line = fails(["train"], capsys)
    assert "cifar10" in line and "800k" in line and "--data-root" in line
    assert "--download" in line and "--preset digits" in line
    assert list(tmp_path.iterdir()) == []  # no runs/ddpm folder, no lock


@pytest.mark.parametrize(
    "dataset, file", [("mnist", "train-images"), ("fashion_mnist", "train-images")]
)
def test_missing_image_files_are_named_with_how_to_get_them(
    tmp_path, capsys, dataset, file
):
    argv = ["train", "--dataset", dataset, "--model", "mnist28"]
    line = fails([*argv, "--data-root", str(tmp_path), "--no-progress"], capsys)
    assert "--dataset" in line and file in line and "--download" in line


def test_missing_cifar_files_are_named(tmp_path, capsys):
    line = fails(["train", "--data-root", str(tmp_path)], capsys)
    assert "data_batch_1" in line and "4 more" in line


@pytest.mark.parametrize(
    "model, overrides, words",
    [
        ("mlp", '{"bogus": 1}', ["bogus", "hidden"]),
        ("mlp", '{"hidden": "16"}', ["hidden", "integer"]),
        ("mlp", '{"hidden": true}', ["hidden", "integer"]),
        ("mlp", '{"hidden": 100000}', ["hidden", "1..65536"]),
        ("mlp", '{"hidden": 12000, "depth": 40}', ["parameters"]),
        ("mlp", '{"groups": 0}', ["groups", "time_dim"]),
        ("digits8", '{"groups": 0}', ["groups", "1..8192"]),
        ("digits8", '{"groups": 3}', ["groups=3"]),
        ("digits8", '{"ch_mult": "12"}', ["ch_mult", "list"]),
        ("digits8", '{"hidden": 16}', ["hidden", "ch_mult"]),
        ("digits8", "[1, 2]", ["JSON object"]),
        ("digits8", "{not json", ["JSON object"]),
    ],
)
def test_bad_model_overrides(capsys, model, overrides, words):
    argv = ["train", *TINY_FLAGS, "--model", model, "--model-overrides", overrides]
    line = fails(argv, capsys)
    assert "--model-overrides" in line and all(w in line for w in words), line


@pytest.mark.parametrize(
    "flag, value, word",
    [
        ("--device", "cpu:x", "--device"),
        ("--device", "gpu", "--device"),
        ("--T", "0", "--T"),
        ("--T", "400000000", "1..100000"),
        ("--seed", "-1", "--seed"),
        ("--lr", "nan", "--lr"),
        ("--steps", "abc", "--steps"),
        ("--model", "resnet", "--model"),
        ("--schedule", "quadratic", "--schedule"),
        ("--download", "yes", "unrecognized"),
    ],
)
def test_bad_train_flags(capsys, flag, value, word):
    assert word in fails(["train", *TINY_FLAGS, flag, value], capsys)


@NO_CUDA
@pytest.mark.parametrize("command", ["train", "sample"])
def test_cuda_without_cuda_is_one_line(files, capsys, command):
    head = TINY_FLAGS if command == "train" else sample(files["mlp"])[1:]
    line = fails([command, *head, "--device", "cuda"], capsys)
    assert "--device" in line and "CUDA" in line and "cpu" in line


def test_out_dir_that_is_a_file(files, capsys):
    argv = ["train", *TINY_FLAGS, "--out-dir", str(files["a_file"])]
    assert "--out-dir" in fails(argv, capsys)


def test_resume_and_overwrite_exclude_each_other(capsys):
    line = fails(["train", *TINY_FLAGS, "--resume", "--overwrite"], capsys)
    assert "--resume" in line and "overwrite" in line


def test_unknown_flag_and_no_command(capsys):
    assert "--stepz" in fails(["train", "--stepz", "3"], capsys)
    assert "command" in fails([], capsys)


# ---------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("name", ["empty", "random", "evil"])
def test_broken_or_malicious_weights_files(files, capsys, name):
    line = fails(sample(files[name]), capsys)
    assert "--checkpoint" in line and str(files[name].name) in line


def test_missing_checkpoint_and_missing_weights_beside_a_sidecar(
    files, tmp_path, capsys
):
    assert "--checkpoint" in fails(sample(tmp_path / "nope.safetensors"), capsys)
    side = edited(files, tmp_path, "mlp", lambda meta: None)
    side.with_suffix(".safetensors").unlink()
    line = fails(sample(side), capsys)
    assert "--checkpoint" in line and "not a regular file" in line


def _set_model(**spec):
    return lambda meta: meta["model"].update(spec)


def _set_config(**config):
    return lambda meta: meta["config"].update(config)


@pytest.mark.parametrize(
    "name, edit, words",
    [
        ("mlp", _set_model(hidden=32), ["do not fit", "mlp"]),  # another architecture
        ("mlp", _set_model(hidden=12000, depth=40), ["parameters", "500,000,000"]),
        ("mlp", _set_model(hidden="16"), ["hidden", "integer"]),
        ("mlp", _set_model(kind="resnet"), ["kind"]),
        ("unet", lambda m: m["model"]["config"].update(ch_mult=[1] * 99), ["ch_mult"]),
        ("mlp", _set_config(T=4e8), ["config.T", "1..100000"]),
        ("mlp", _set_config(T=0), ["config.T"]),
        ("mlp", _set_config(schedule="quadratic"), ["schedule", "linear"]),
        ("mlp", lambda meta: meta.update(sha256=None), ["sha256"]),
    ],
)
def test_sidecars_are_checked_before_anything_is_built(
    files, tmp_path, capsys, name, edit, words
):
    line = fails(sample(edited(files, tmp_path, name, edit)), capsys)
    assert "--checkpoint" in line and all(w in line for w in words), line


# ---------------------------------------------------------------------------- sample
@pytest.mark.parametrize(
    "more, words",
    [
        (["--guidance", "nan"], ["--guidance", "finite"]),
        (["--guidance", "inf"], ["--guidance", "finite"]),
        (["--guidance", "2"], ["--guidance", "unconditional"]),
        (["--label", "3"], ["--label", "unconditional"]),
        (["--label", "-2"], ["--label", ">= -1"]),
        (["--n", "0"], ["--n"]),
        (["--batch-size", "0"], ["--batch-size"]),
        (["--steps", "0"], ["--steps"]),
        (["--sampler", "euler"], ["--sampler"]),
        (["--eta", "-1"], ["--eta"]),
        (["--eta", "nan"], ["--eta"]),
        (["--seed", "-3"], ["--seed"]),
        (["--device", "cpu:x"], ["--device"]),
    ],
)
def test_bad_sample_flags(files, capsys, more, words):
    line = fails(sample(files["mlp"], *more), capsys)
    assert all(w in line for w in words), line


@pytest.mark.parametrize(
    "more, words",
    [
        (["--label", "5"], ["--label", "0..2"]),
        (["--guidance", "2"], ["--guidance", "--label 0..2"]),
    ],
)
def test_labels_of_a_class_conditional_model(files, capsys, more, words):
    line = fails(sample(files["cond"], "--steps", "2", *more), capsys)
    assert all(w in line for w in words), line


@pytest.mark.parametrize("where", ["missing/x.npz", ".", "x.txt", "a_file/x.npz"])
def test_bad_tensor_out(files, capsys, where):
    target = files["root"] / where
    line = fails(sample(files["mlp"], "--tensor-out", str(target)), capsys)
    assert "--tensor-out" in line


def test_png_out_that_is_a_folder(files, capsys):
    assert "--out" in fails(sample(files["mlp"], "--out", str(files["root"])), capsys)


# ---------------------------------------------------------------------------- evaluate
def evaluate(path, *more):
    return ["evaluate", "--checkpoint", str(path), "--fd-samples", "0", *more]


def test_evaluate_refuses_more_examples_than_the_data_has(files, capsys):
    line = fails(evaluate(files["unet"], "--n", "100000"), capsys)
    assert "--n" in line and "1797" in line


@pytest.mark.parametrize(
    "name, more, words",
    [
        ("unet", ["--dataset", "mnist", "--data-root", "{tmp}"], ["train-images"]),
        ("unet", ["--dataset", "imagenet"], ["--dataset"]),
        ("mlp", [], ["--dataset", "two_moons"]),
        ("unet", ["--fd-steps", "0"], ["--fd-steps"]),
        ("unet", ["--n", "0"], ["--n"]),
    ],
)
def test_bad_evaluate_flags(files, tmp_path, capsys, name, more, words):
    more = [m.replace("{tmp}", str(tmp_path)) for m in more]
    line = fails(evaluate(files[name], *more), capsys)
    assert all(w in line for w in words), line


# ---------------------------------------------------------------------------- convert, export
def test_convert_of_a_missing_folder_is_not_a_hub_error(tmp_path, capsys):
    line = fails(["convert", "--source", str(tmp_path / "no_such")], capsys)
    assert "--source" in line and "no such folder" in line


def test_convert_of_a_hub_id_offline_says_what_to_pass(tmp_path, monkeypatch, capsys):
    from ddpm_lite import pretrained

    asked = []

    def hub(repo_id, revision):
        asked.append(repo_id)
        raise ConnectionError("offline")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(pretrained, "_snapshot", hub)
    argv = ["convert", "--source", "google/ddpm-cifar10-32"]
    line = fails([*argv, "--out-dir", str(tmp_path / "o")], capsys)
    assert "--source" in line and "HF_HUB_OFFLINE is set" in line and "folder" in line
    assert asked == []  # decided without asking the Hub


def test_convert_without_network_says_what_to_pass(tmp_path, monkeypatch, capsys):
    from ddpm_lite import pretrained

    def no_network(repo_id, revision):
        raise ConnectionError("Failed to resolve 'huggingface.co'")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(pretrained, "_snapshot", no_network)
    argv = ["convert", "--source", "google/ddpm-cifar10-32"]
    line = fails([*argv, "--out-dir", str(tmp_path / "o")], capsys)
    assert "--source" in line and "no network" in line and "--local-dir" in line


@pytest.mark.parametrize("content", ["evil.bin", "random.safetensors", "nothing"])
def test_convert_of_a_bad_diffusers_folder(files, tmp_path, capsys, content):
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"sample_size": 8}))
    name = "diffusion_pytorch_model." + content.split(".")[-1]
    if content != "nothing":
        (folder / name).write_bytes(files[content.split(".")[0]].read_bytes())
    line = fails(
        ["convert", "--source", str(folder), "--out-dir", str(tmp_path)], capsys
    )
    assert "--source" in line


@pytest.mark.parametrize(
    "more, word",
    [(["--T", "0"], "--T"), (["--schedule", "quadratic"], "--schedule")],
)
def test_bad_convert_flags(files, capsys, more, word):
    assert word in fails(["convert", "--source", str(files["root"]), *more], capsys)


def test_convert_and_export_into_a_file(files, capsys):
    out = ["--out-dir", str(files["a_file"])]
    assert "--out-dir" in fails(
        ["convert", "--source", str(files["root"]), *out], capsys
    )
    line = fails(["export", "--checkpoint", str(files["mlp"]), *out], capsys)
    assert "--out-dir" in line
    line = fails(["export", "--checkpoint", str(files["empty"]), *out], capsys)
    assert "--checkpoint" in line


# ---------------------------------------------------------------------------- state, --debug
def test_a_folder_in_use_is_exit_status_1(tmp_path, capsys):
    (tmp_path / run_folder.LOCK).write_text(
        json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "started": 0})
    )
    argv = ["train", *TINY_FLAGS, "--out-dir", str(tmp_path)]
    assert "in use by another run" in fails(argv, capsys, status=1)


def test_a_run_that_goes_nan_is_exit_status_1(tmp_path, capsys):
    argv = ["train", *TINY_FLAGS, "--lr", "1e6", "--out-dir", str(tmp_path)]
    line = fails(argv, capsys, status=1)
    assert "at step" in line and ("loss is" in line or "not finite" in line), line


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(files, where):
    argv = sample(files["empty"])
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    with pytest.raises(ValueError, match="not a safetensors file"):
        main(argv)
