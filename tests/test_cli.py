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


def _subparser(name: str):
    parser = build_parser()
    return next(a for a in parser._actions if a.dest == "command").choices[name]


@pytest.mark.parametrize(
    "name, cls",
    [
        ("train", TrainConfig),
        ("sample", SampleConfig),
        ("convert", ConvertConfig),
        ("evaluate", EvalConfig),
    ],
)
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
        (["train", "--steps", "0"], "steps"),
        (["train", "--lr", "-1"], "lr"),
        (["train", "--ema-decay", "1"], "ema_decay"),
        (["train", "--batch-size", "0"], "batch_size"),
        (["train", "--model", "resnet"], "model"),
        (["train", "--dataset", "imagenet"], "dataset"),
        (["sample", "--checkpoint", "/nonexistent/ckpt.json"], "checkpoint"),
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
