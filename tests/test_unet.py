"""The U-Net and the MLP denoiser: sizes, initialisation, the step convention, numerics."""

import os
import time

import pytest
import torch
import torch.nn.functional as F
from _nets import perturb

from ddpm_lite import MLPDenoiser, UNet, UNetConfig, timestep_embedding
from ddpm_lite.unet import AttnBlock, Dropout, ResBlock, Upsample

TINY = dict(
    in_channels=1,
    out_channels=1,
    ch=16,
    ch_mult=(1, 2),
    num_res_blocks=1,
    attn_resolutions=(4,),
    dropout=0.0,
    resolution=8,
    groups=4,
)


def tiny(**overrides) -> UNet:
    torch.manual_seed(0)
    return perturb(UNet(UNetConfig(**{**TINY, **overrides}))).eval()


def test_parameter_counts_match_the_paper():
    with torch.device("meta"):  # shapes only, no memory
        assert (
            UNet.from_preset("cifar10").num_params() == 35_746_307
        )  # Ho et al. 2020: 35.7M
        assert UNet.from_preset("celebahq256").num_params() == 113_673_219  # 114M


def test_attention_only_where_configured():
    with torch.device("meta"):
        net = UNet.from_preset("cifar10")
    attn = [name for name, m in net.named_modules() if isinstance(m, AttnBlock)]
    # 16x16: two down blocks, three up blocks; plus the middle.
    assert attn == [
        "down.3.attn",
        "down.4.attn",
        "mid.0.attn",
        "up.8.attn",
        "up.9.attn",
        "up.10.attn",
    ]


@pytest.mark.parametrize(
    "preset,shape", [("digits8", (3, 1, 8, 8)), ("mnist28", (2, 1, 28, 28))]
)
def test_output_shape(preset, shape):
    net = UNet.from_preset(preset)
    out = net(torch.randn(shape), torch.tensor([1] * (shape[0] - 1) + [1000]))
    assert out.shape == shape


def test_fresh_model_outputs_exactly_zero():
    torch.manual_seed(0)
    net = UNet.from_preset("digits8")
    assert torch.equal(
        net(torch.randn(4, 1, 8, 8), torch.tensor([1, 2, 500, 1000])),
        torch.zeros(4, 1, 8, 8),
    )


def test_fresh_residual_branches_are_identities():
    """Zero-initialised ResBlock.conv2 and AttnBlock.proj: each block starts as the identity."""
    torch.manual_seed(0)
    x, emb = (
        torch.randn(2, 64, 4, 4),
        torch.randn(2, 128),
    )  # mid: ch * 2 channels, 4ch emb
    block = UNet(UNetConfig(**{**TINY, "ch": 32, "groups": 8})).mid[
        0
    ]  # ResBlock + attention
    assert isinstance(block, ResBlock) and block.attn is not None
    assert torch.equal(block.attn(x), x)
    assert torch.equal(block(x, emb), x)


def test_time_embedding_matches_diffusers_at_t_minus_1():
    from diffusers.models.embeddings import get_timestep_embedding

    net, t, seen = UNet.from_preset("digits8"), torch.tensor([1, 2, 10, 999, 1000]), []
    net.time_embed.register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
    net(torch.randn(5, 1, 8, 8), t)
    ref = get_timestep_embedding(
        t - 1, 32, flip_sin_to_cos=False, downscale_freq_shift=1
    )
    torch.testing.assert_close(seen[0], ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(timestep_embedding(t - 1, 32), ref, rtol=0, atol=1e-6)


def test_bf16_autocast_close_to_float32():
    net, x, t = tiny(), torch.randn(4, 1, 8, 8), torch.tensor([1, 10, 100, 1000])
    with torch.no_grad():
        ref = net(x, t)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(x, t)
    assert out.dtype == torch.bfloat16
    err = (out.float() - ref).norm() / ref.norm()
    assert err < 0.03, err  # bf16 has an 8-bit mantissa


def test_channels_last_gives_the_same_output():
    net, x, t = tiny(), torch.randn(4, 1, 8, 8), torch.tensor([1, 10, 100, 1000])
    with torch.no_grad():
        ref = net(x, t)
        net = net.to(memory_format=torch.channels_last)
        out = net(x.to(memory_format=torch.channels_last), t)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [(1, 1), (4, 4), (7, 7), (3, 5)])
def test_upsample_is_nearest_x2_then_conv3x3(size):
    """The four-phase 2x2 convs equal conv3x3(nearest_x2(x)), values and gradients, in float64."""
    torch.manual_seed(0)
    up = Upsample(6).double()
    x = torch.randn(2, 6, *size, dtype=torch.float64, requires_grad=True)
    ref = up.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
    out = up(x)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    g = torch.randn_like(ref)
    wrt = [x, up.conv.weight, up.conv.bias]
    for a, b in zip(torch.autograd.grad(out, wrt, g), torch.autograd.grad(ref, wrt, g)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    with torch.no_grad():  # keeps the memory format (ambiguous, so untested, at 1x1)
        assert size == (1, 1) or up(
            x.to(memory_format=torch.channels_last)
        ).is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize(
    "backend",
    [
        "aot_eager",
        pytest.param(
            "inductor",
            marks=pytest.mark.skipif(
                os.environ.get("DDPM_LITE_TEST_INDUCTOR") != "1",
                reason="inductor's cold compile takes ~30-45 s on a 2-core CPU (~5 s with a warm cache); "
                "set DDPM_LITE_TEST_INDUCTOR=1 to run it",
            ),
        ),
    ],
)
def test_torch_compile_gives_the_same_output(backend):
    if not hasattr(torch, "compile"):
        pytest.skip("torch.compile is unavailable in this torch version")
    net, x, t = tiny(), torch.randn(4, 1, 8, 8), torch.tensor([1, 10, 100, 1000])
    start = time.perf_counter()
    with torch.no_grad():
        out = torch.compile(net, backend=backend, fullgraph=True)(
            x, t
        )  # fullgraph: no graph breaks
    print(f"torch.compile({backend}) + first call: {time.perf_counter() - start:.1f} s")
    torch.testing.assert_close(out, net(x, t), rtol=1e-4, atol=1e-5)


def test_class_conditioning_and_the_no_label_index():
    net, x, t = tiny(num_classes=3), torch.randn(2, 1, 8, 8), torch.tensor([5, 500])
    with torch.no_grad():
        out = {y: net(x, t, torch.tensor([y, y])) for y in range(4)}
        assert (out[0] - out[1]).abs().max() > 1e-2  # labels matter
        assert torch.equal(net(x, t), out[3])  # y=None is "no label"
        assert torch.equal(
            net(x, t, torch.tensor([0, 3]))[0], out[0][0]
        )  # per-sample labels


@pytest.mark.parametrize(
    "call,match",
    [
        (
            lambda n: n(torch.randn(2, 3, 8, 8), torch.tensor([1, 2])),
            "x_t must have shape",
        ),
        (lambda n: n(torch.randn(2, 1, 7, 8), torch.tensor([1, 2])), "divisible by 2"),
        (
            lambda n: n(torch.randn(2, 1, 8, 8), torch.tensor([0, 2])),
            r"t out of range: need 1 <= t",
        ),
        (
            lambda n: n(torch.randn(2, 1, 8, 8), torch.tensor([[1], [2]])),
            r"t must be a tensor of shape \(2,\)",
        ),
        (
            lambda n: n(torch.randn(2, 1, 8, 8), 5),
            r"t must be a tensor of shape \(2,\)",
        ),
        (
            lambda n: n(
                torch.randn(2, 1, 8, 8), torch.tensor([1, 2]), torch.tensor([0, 1])
            ),
            "y must be None",
        ),
    ],
)
def test_bad_inputs_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call(UNet(UNetConfig(**TINY)))


def test_bad_labels_and_configs_raise_value_error():
    net, x, t = (
        UNet(UNetConfig(**{**TINY, "num_classes": 3})),
        torch.randn(2, 1, 8, 8),
        torch.tensor([1, 2]),
    )
    with pytest.raises(ValueError, match=r"y out of range: need 0 <= y <= 3"):
        net(x, t, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="y must be an integer tensor"):
        net(x, t, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="groups=32 must divide"):
        UNet(UNetConfig(**{**TINY, "groups": 32}))
    with pytest.raises(ValueError, match="resolution must be divisible"):
        UNet(UNetConfig(**{**TINY, "resolution": 9}))
    with pytest.raises(ValueError, match="name must be one of"):
        UNet.from_preset("imagenet")
    for p in (-0.1, 1.0):
        with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
            UNet(UNetConfig(**{**TINY, "dropout": p}))


def test_dropout_keeps_1_minus_p_and_rescales():
    """Each entry survives with probability 1 - p (binomial count within 5 sigma), survivors are
    scaled by exactly 1 / (1 - p), the gradient is the same mask, and eval mode is the identity."""
    torch.manual_seed(0)
    p, n = 0.1, 1_000_000
    drop = Dropout(p).train()
    x = torch.full((n,), 3.0, requires_grad=True)
    out = drop(x)
    kept = out != 0
    assert abs(kept.sum().item() - n * (1 - p)) < 5 * (n * p * (1 - p)) ** 0.5
    torch.testing.assert_close(
        out[kept], torch.full_like(out[kept], 3.0 / (1 - p)), rtol=1e-6, atol=0
    )
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert torch.equal(grad, out.detach() / 3.0)
    assert drop.eval()(x) is x and Dropout(0.0).train()(x) is x


def test_mlp_denoiser_shape_embedding_and_labels():
    torch.manual_seed(0)
    net, x, t, seen = (
        MLPDenoiser(num_classes=2),
        torch.randn(3, 2),
        torch.tensor([1, 50, 1000]),
        [],
    )
    net.time_embed.register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
    out = net(x, t)
    assert out.shape == (3, 2)
    torch.testing.assert_close(seen[0], timestep_embedding(t - 1, 64), rtol=0, atol=0)
    assert torch.equal(out, net(x, t, torch.tensor([2, 2, 2])))  # None == "no label"
    assert (net(x, t, torch.tensor([0, 0, 0])) - out).abs().max() > 1e-3
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, 2\)"):
        net(torch.randn(3, 3), t)
    with pytest.raises(ValueError, match="t out of range"):
        net(x, t - 1)
    with pytest.raises(ValueError, match="y must be None"):
        MLPDenoiser()(x, t, torch.tensor([0, 0, 0]))
