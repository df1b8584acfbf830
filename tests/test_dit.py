"""The tiny DiT: patches round-trip, adaLN-Zero starts as the identity, attention is what it says."""

import math

import pytest
import torch
from _nets import perturb

import ddpm_lite
from ddpm_lite.dit import (
    Attention,
    DiT,
    DiTBlock,
    DiTConfig,
    modulate,
    patchify,
    unpatchify,
)
from ddpm_lite.model_spec import model_from_spec, model_spec


def test_patchify_puts_each_patch_in_its_token():
    x = torch.randn(2, 3, 8, 4)
    tokens = patchify(x, 2)
    assert tokens.shape == (2, 8, 12)  # (8/2)(4/2) patches of 2*2*3
    for i in range(4):
        for j in range(2):
            patch = x[:, :, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]  # (B, C, p, p)
            expected = patch.permute(0, 2, 3, 1).reshape(
                2, -1
            )  # (row, column, channel)
            assert torch.equal(tokens[:, i * 2 + j], expected)


@pytest.mark.parametrize("p", [1, 2, 4])
def test_unpatchify_inverts_patchify_exactly(p):
    x = torch.randn(3, 2, 8, 8)
    assert torch.equal(unpatchify(patchify(x, p), p, 2, 8, 8), x)
    tokens = torch.randn(3, (8 // p) ** 2, p * p * 2)
    assert torch.equal(patchify(unpatchify(tokens, p, 2, 8, 8), p), tokens)


def test_patch_shapes_are_checked():
    with pytest.raises(ValueError, match="divisible by p=3"):
        patchify(torch.randn(1, 1, 8, 8), 3)
    with pytest.raises(ValueError, match="tokens must have shape"):
        unpatchify(torch.randn(1, 5, 4), 2, 1, 8, 8)


def test_attention_is_softmax_of_scaled_dot_products_per_head():
    torch.manual_seed(0)
    attn, x = Attention(8, heads=2), torch.randn(2, 5, 8)
    q, k, v = attn.qkv(x).split(8, dim=-1)
    heads = []
    for h in range(2):
        sl = slice(4 * h, 4 * h + 4)
        w = torch.softmax(
            q[..., sl] @ k[..., sl].transpose(1, 2) / math.sqrt(4), dim=-1
        )
        heads.append(w @ v[..., sl])
    expected = attn.proj(torch.cat(heads, dim=-1))
    assert torch.allclose(attn(x), expected, atol=1e-6)


def test_adaln_zero_block_is_the_identity_at_initialisation():
    torch.manual_seed(0)
    block, x, c = DiTBlock(16, heads=4), torch.randn(3, 6, 16), torch.randn(3, 16)
    assert torch.equal(block(x, c), x)
    perturb(block)  # trained weights: not the identity
    assert not torch.allclose(block(x, c), x, atol=1e-3)


def test_modulate_is_scale_then_shift_per_sample():
    x, shift, scale = torch.randn(2, 3, 4), torch.randn(2, 4), torch.randn(2, 4)
    for b in range(2):
        assert torch.allclose(
            modulate(x, shift, scale)[b], x[b] * (1 + scale[b]) + shift[b]
        )


def test_untrained_dit_outputs_zero_and_conditioning_reaches_the_output():
    torch.manual_seed(0)
    net = DiT(DiTConfig(dim=16, depth=2, heads=2, num_classes=10))
    x, t = torch.randn(4, 1, 8, 8), torch.tensor([1, 10, 500, 1000])
    assert torch.equal(net(x, t), torch.zeros_like(x))
    perturb(net)
    out = net(x, t)
    assert out.shape == x.shape
    assert not torch.allclose(net(x, t + 1), out, atol=1e-4)  # the step matters
    assert not torch.allclose(
        net(x, t, torch.tensor([0, 1, 2, 3])), out, atol=1e-4
    )  # so does y
    assert torch.equal(
        net(x, t, torch.full((4,), 10)), out
    )  # label 10 means "no label"
    shifted = net(x.roll(2, dims=3), t)  # positions matter: no shift symmetry
    assert not torch.allclose(shifted, out.roll(2, dims=3), atol=1e-4)


def test_dit_checks_its_inputs_and_config():
    net = DiT(DiTConfig(dim=16, depth=1, heads=2))
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, 1, 8, 8\)"):
        net(torch.randn(2, 1, 6, 6), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="t out of range"):
        net(torch.randn(2, 1, 8, 8), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="y must be None"):
        net(torch.randn(2, 1, 8, 8), torch.tensor([1, 2]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="patch must divide"):
        DiT(DiTConfig(patch=3))
    with pytest.raises(ValueError, match="dim must be a multiple"):
        DiT(DiTConfig(dim=18, heads=3))


def test_dit_trains_through_the_package_and_survives_a_checkpoint(tmp_path):
    x, _ = ddpm_lite.digits()
    config = ddpm_lite.TrainConfig.from_preset(
        "digits",
        steps=3,
        batch_size=8,
        warmup=0,
        progress=False,
        sample_every=0,
        checkpoint_every=3,
        out_dir=str(tmp_path),
    )
    result = ddpm_lite.train(
        config, model=DiT(DiTConfig(dim=16, depth=1, heads=2)), data=x[:64]
    )
    assert len(result.losses) == 3 and all(math.isfinite(v) for v in result.losses)
    rebuilt = model_from_spec(model_spec(result.model))
    assert isinstance(rebuilt, DiT) and rebuilt.config == result.model.config
    loaded = ddpm_lite.load_model(result.checkpoint)
    t = torch.tensor([5, 600])
    assert torch.equal(loaded(x[:2], t), result.ema(x[:2], t))
