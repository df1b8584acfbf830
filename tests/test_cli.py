"""`python -m ddpm_lite`: flags come from the dataclass fields; sample, evaluate and convert run."""

import dataclasses
import json

import pytest
import torch
from PIL import Image

from ddpm_lite.checkpoint import load_checkpoint, save_checkpoint
from ddpm_lite.cli import (
    ConvertConfig,
    EvalConfig,
    SampleConfig,
    build_parser,
    config_from_args,
    main,
)
from ddpm_lite.train import TrainConfig
from ddpm_lite.unet import UNet

CONFIGS = [
    ("train", TrainConfig),
    ("sample", SampleConfig),
    ("convert", ConvertConfig),
    ("evaluate", EvalConfig),
]


def _subparser(name: str):
    parser = build_parser()
    return next(a for a in parser._actions if a.dest == "command").choices[name]


@pytest.mark.parametrize("name, cls", CONFIGS)
def test_every_field_is_a_flag(name, cls):
    options = {s for a in _subparser(name)._actions for s in a.option_strings}
    for f in dataclasses.fields(cls):
        assert "--" + f.name.replace("_", "-") in options, f.name
        if f.type in (bool, "bool"):
            assert "--no-" + f.name.replace("_", "-") in options


def test_flags_are_parsed_with_the_field_types_over_a_preset():
    args = build_parser().parse_args(
        [
            "train",
            "--preset",
            "digits",
            "--steps",
            "7",
            "--lr",
            "3e-4",
            "--bf16",
            "--model-overrides",
            '{"ch": 16, "ch_mult": [1, 2]}',
            "--no-progress",
        ]
    )
    c = config_from_args(TrainConfig, args, TrainConfig.from_preset(args.preset))
    assert (
        c.steps == 7
        and isinstance(c.steps, int)
        and c.lr == 3e-4
        and c.bf16 is True
        and c.progress is False
    )
    assert c.model_overrides == {"ch": 16, "ch_mult": [1, 2]}
    assert (
        c.dataset == "digits" and c.warmup == TrainConfig.from_preset("digits").warmup
    )  # untouched field


@pytest.mark.parametrize(
    "argv, word",
    [
        (["train", "--steps", "0"], "--steps"),
        (["train", "--lr", "-1"], "--lr"),
        (["train", "--ema-decay", "1"], "--ema-decay"),
        (["train", "--batch-size", "0"], "--batch-size"),
        (["train", "--model", "resnet"], "--model"),
        (["train", "--dataset", "imagenet"], "--dataset"),
        (["sample", "--checkpoint", "/nonexistent/ckpt.json"], "--checkpoint"),
    ],
)
def test_bad_input_exits_with_the_parameter_named(argv, word, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and word in capsys.readouterr().err


def _tiny_unet_checkpoint(tmp_path):
    torch.manual_seed(0)
    unet = UNet.from_preset("digits8", ch=8, groups=4)
    return save_checkpoint(
        tmp_path / "run",
        step=1,
        model=unet,
        ema=unet,
        config={"schedule": "linear", "T": 20, "dataset": "digits"},
    )


def test_sample_writes_a_png_and_a_tensor(tmp_path):
    ckpt = _tiny_unet_checkpoint(tmp_path)
    png, npz = tmp_path / "grid.png", tmp_path / "x.npz"
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(ckpt),
                "--out",
                str(png),
                "--tensor-out",
                str(npz),
                "--n",
                "4",
                "--steps",
                "3",
                "--no-progress",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    with Image.open(png) as img:
        assert img.format == "PNG" and min(img.size) >= 8
    import numpy as np

    assert np.load(npz)["samples"].shape == (4, 1, 8, 8)


def test_evaluate_reports_bits_per_dim(tmp_path, capsys):
    ckpt = _tiny_unet_checkpoint(tmp_path)
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(ckpt),
                "--n",
                "4",
                "--fd-samples",
                "0",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (
        report["dataset"] == "digits"
        and report["bins"] == 17
        and report["bits_per_dim"] > 0
    )


def test_convert_turns_a_diffusers_folder_into_a_checkpoint(tmp_path):
    diffusers = pytest.importorskip("diffusers")
    small = dict(
        sample_size=8,
        in_channels=1,
        out_channels=1,
        block_out_channels=[8, 16],
        down_block_types=["DownBlock2D", "AttnDownBlock2D"],
        up_block_types=["AttnUpBlock2D", "UpBlock2D"],
        layers_per_block=1,
        norm_num_groups=4,
        norm_eps=1e-6,
        attention_head_dim=None,
        downsample_padding=0,
        freq_shift=1,
        flip_sin_to_cos=False,
    )
    theirs = diffusers.UNet2DModel(**small)
    theirs.save_pretrained(tmp_path / "hf")
    assert (
        main(
            [
                "convert",
                "--source",
                str(tmp_path / "hf"),
                "--out-dir",
                str(tmp_path / "ours"),
                "--T",
                "20",
            ]
        )
        == 0
    )
    ck = load_checkpoint(tmp_path / "ours")
    assert ck.meta["model"]["kind"] == "unet" and ck.meta["config"]["T"] == 20
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(tmp_path / "ours"),
                "--out",
                str(tmp_path / "c.png"),
                "--n",
                "2",
                "--steps",
                "2",
                "--no-progress",
                "--device",
                "cpu",
            ]
        )
        == 0
    )


@pytest.mark.parametrize("name, cls", CONFIGS)
def test_help_lists_every_options_allowed_values(name, cls):
    from ddpm_lite.cli import ALLOWED, CHOICES
    from ddpm_lite.train_config import allowed_values

    allowed = allowed_values() if cls is TrainConfig else ALLOWED[cls]
    text = _subparser(name).format_help()
    flat = " ".join(text.split())
    for f in dataclasses.fields(cls):
        assert f.name in allowed, f"{name}: no allowed values for {f.name}"
        assert " ".join(allowed[f.name].split()) in flat, f.name
        for choice in CHOICES.get(cls, {}).get(f.name, ()):
            assert repr(choice) in flat or choice in flat, (f.name, choice)
    assert "--debug" in text


def test_allowed_values_match_what_train_accepts():
    """The ranges --help shows are the ones check_config enforces, at their edges."""
    from ddpm_lite.train_config import AT_LEAST_0, AT_LEAST_1

    base = TrainConfig.from_preset("two_moons")
    for names, low in ((AT_LEAST_1, 1), (AT_LEAST_0, 0)):
        for name in names:
            dataclasses.replace(base, **{name: low})
            with pytest.raises(ValueError, match=name):
                dataclasses.replace(base, **{name: low - 1})


def _tiny_mlp_checkpoint(tmp_path):
    from ddpm_lite.mlp import MLPDenoiser

    torch.manual_seed(0)
    mlp = MLPDenoiser(hidden=16, depth=1, time_dim=8)
    config = {"schedule": "linear", "T": 20, "dataset": "two_moons"}
    return save_checkpoint(tmp_path / "mlp", step=1, model=mlp, config=config)


@pytest.mark.parametrize("sampler, eta", [("ddim", "0"), ("ddpm", "0"), ("ddim", "1")])
def test_sample_in_batches(tmp_path, sampler, eta):
    """DDIM with eta = 0: the same numbers for any batch size (x_T is drawn at once), up
    to float rounding (a matrix product of another batch size may round differently).
    ddpm and eta > 0 draw per-step noise per batch: equal for equal batch sizes."""
    ckpt = _tiny_mlp_checkpoint(tmp_path)

    def draw(batch_size, name):
        out = tmp_path / f"{name}.pt"
        argv = ["sample", "--checkpoint", str(ckpt), "--n", "10", "--steps", "5"]
        argv += ["--sampler", sampler, "--eta", eta, "--batch-size", str(batch_size)]
        argv += ["--out", str(tmp_path / f"{name}.png"), "--tensor-out", str(out)]
        assert main([*argv, "--no-progress", "--device", "cpu"]) == 0
        return torch.load(out)

    whole, again, split = draw(10, "whole"), draw(10, "again"), draw(3, "split")
    assert whole.shape == (10, 2) and torch.isfinite(whole).all()
    assert torch.equal(whole, again)
    close = torch.allclose(whole, split, rtol=1e-5, atol=1e-5)
    if sampler == "ddim" and eta == "0":
        assert close
    else:  # documented: the noise of each step is drawn for the batch
        assert not close
