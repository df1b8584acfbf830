"""Released-weight conversion: our UNet at t equals diffusers' UNet2DModel at timestep t - 1.

No download: diffusers' models are built from config dicts with random weights, and a
folder written by `save_pretrained` stands in for the Hugging Face Hub.
"""

import json

import pytest
import torch
from _nets import DDPM_CIFAR10_32, perturb

from ddpm_lite import convert_diffusers_unet, load_pretrained

diffusers = pytest.importorskip("diffusers")

SMALL = {
    **DDPM_CIFAR10_32,
    "sample_size": 16,
    "block_out_channels": [16, 32, 32],
    "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
    "norm_num_groups": 8,
    "layers_per_block": 1,
}


def reference(config: dict, seed: int = 0):
    torch.manual_seed(seed)
    return perturb(diffusers.UNet2DModel(**config), seed).eval()


@torch.no_grad()
def assert_same(ours, theirs, x, t, y=None, *, check_shift=True):
    out, ref = (
        ours(x, t, y),
        theirs(x, t - 1, class_labels=y).sample,
    )  # diffusers' step is t - 1
    assert (out - ref).abs().max() <= 1e-5
    if check_shift:  # a one-step shift is visible
        assert (theirs(x, t, class_labels=y).sample - ref).abs().max() > 1e-3


def test_cifar10_conversion_equals_diffusers():
    theirs = reference(DDPM_CIFAR10_32)
    ours = convert_diffusers_unet(theirs).eval()
    assert ours.num_params() == 35_746_307
    assert_same(
        ours,
        theirs,
        torch.randn(2, 3, 32, 32),
        torch.tensor([1, 1000]),
        check_shift=False,
    )


def test_small_config_conversion_across_t():
    theirs = reference(SMALL)
    ours = convert_diffusers_unet(theirs.state_dict(), dict(theirs.config)).eval()
    assert ours.config.attn_resolutions == (8,) and ours.config.ch_mult == (1, 2, 2)
    assert_same(
        ours, theirs, torch.randn(6, 3, 16, 16), torch.tensor([1, 2, 3, 100, 999, 1000])
    )


def test_class_conditional_conversion():
    theirs = reference({**SMALL, "num_class_embeds": 4})
    ours = convert_diffusers_unet(theirs).eval()
    assert ours.config.num_classes == 4
    assert_same(
        ours,
        theirs,
        torch.randn(4, 3, 16, 16),
        torch.tensor([1, 5, 50, 500]),
        torch.tensor([0, 1, 2, 3]),
    )


def test_2022_attention_key_names_convert():
    """The google/ddpm-* files predate diffusers' Attention and name q, k, v, out differently."""
    theirs = reference(SMALL)
    rename = {
        "to_q.": "query.",
        "to_k.": "key.",
        "to_v.": "value.",
        "to_out.0.": "proj_attn.",
    }
    old = {}
    for key, value in theirs.state_dict().items():
        for new_name, old_name in rename.items():
            key = key.replace(new_name, old_name)
        old[key] = value
    assert any("proj_attn" in k for k in old)
    assert_same(
        convert_diffusers_unet(old, dict(theirs.config)).eval(),
        theirs,
        torch.randn(2, 3, 16, 16),
        torch.tensor([1, 1000]),
    )


@pytest.mark.parametrize(
    "field,value",
    [
        ("flip_sin_to_cos", True),
        ("freq_shift", 0),
        ("downsample_padding", 1),
        ("attention_head_dim", 8),
        ("center_input_sample", True),
    ],
)
def test_unrepresentable_configs_raise_value_error_naming_the_field(field, value):
    theirs = diffusers.UNet2DModel(**SMALL)
    with pytest.raises(ValueError, match=field):
        convert_diffusers_unet(theirs.state_dict(), {**SMALL, field: value})


@pytest.mark.parametrize("subfolder,safe", [("", True), ("unet", False)])
def test_load_pretrained_from_a_local_folder(tmp_path, subfolder, safe):
    theirs = reference(SMALL)
    theirs.save_pretrained(tmp_path / subfolder, safe_serialization=safe)
    weights = "diffusion_pytorch_model." + ("safetensors" if safe else "bin")
    assert (tmp_path / subfolder / weights).is_file()
    assert (
        json.loads((tmp_path / subfolder / "config.json").read_text())["freq_shift"]
        == 1
    )
    ours = load_pretrained(tmp_path)
    assert not ours.training
    assert_same(ours, theirs, torch.randn(2, 3, 16, 16), torch.tensor([1, 700]))


def test_load_pretrained_rejects_a_folder_without_weights(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(SMALL))
    with pytest.raises(ValueError, match="no diffusion_pytorch_model"):
        load_pretrained(tmp_path)
