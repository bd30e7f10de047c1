"""The ImageNet classifiers of swin.py, convnext.py, regnet.py, efficient.py, densenet.py,
vgg.py and hybrid.py: parameter counts (torchvision's published ones where torchvision has
the network, and hand counts from the papers' layouts), a full analysis on the meta device,
and a real forward."""
from __future__ import annotations

import pytest
import torch
from helpers import example

import costlens

#: (file stem, factory, parameters); all but the hybrid are torchvision's published counts.
NETWORKS = [
    ("swin", "swin_t", 28_288_354),
    ("convnext", "convnext_t", 28_589_128),
    ("regnet", "regnet_y_400mf", 4_344_144),
    ("efficient", "efficientnet_b0", 5_288_548),
    ("densenet", "densenet121", 7_978_856),
    ("vgg", "vgg11", 132_863_336),
    ("hybrid", "conv_attention_hybrid", 6_283_008),
]
IDS = [factory for _, factory, _ in NETWORKS]


def _linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def _conv(c_in: int, c_out: int, k: int, groups: int = 1, bias: bool = False) -> int:
    return c_in // groups * c_out * k * k + (c_out if bias else 0)


def _swin_t() -> int:
    total = _conv(3, 96, 4, bias=True) + 2 * 96  # patch embedding and its LayerNorm
    dim = 96
    for index, (depth, heads) in enumerate(zip((2, 2, 6, 2), (3, 6, 12, 24))):
        block = (2 * 2 * dim  # norm1, norm2
                 + _linear(dim, 3 * dim) + _linear(dim, dim)  # qkv, proj
                 + 13 * 13 * heads  # relative position bias table
                 + _linear(dim, 4 * dim) + _linear(4 * dim, dim))
        total += depth * block
        if index < 3:  # patch merging: LayerNorm(4C), Linear(4C, 2C) without bias
            total += 2 * 4 * dim + _linear(4 * dim, 2 * dim, bias=False)
            dim *= 2
    return total + 2 * dim + _linear(dim, 1000)


def _vgg11() -> int:
    convs = ((3, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512), (512, 512),
             (512, 512))
    return (sum(_conv(c_in, c_out, 3, bias=True) for c_in, c_out in convs)
            + _linear(512 * 7 * 7, 4096) + _linear(4096, 4096) + _linear(4096, 1000))


def _densenet121() -> int:
    total = _conv(3, 64, 7) + 2 * 64
    channels = 64
    for index, layers in enumerate((6, 12, 24, 16)):
        for layer in range(layers):
            c_in = channels + 32 * layer
            total += 2 * c_in + _conv(c_in, 128, 1) + 2 * 128 + _conv(128, 32, 3)
        channels += 32 * layers
        if index < 3:
            total += 2 * channels + _conv(channels, channels // 2, 1)
            channels //= 2
    return total + 2 * channels + _linear(channels, 1000)


def _regnet_y_400mf() -> int:
    total = _conv(3, 32, 3) + 2 * 32
    c_in = 32
    for depth, width in zip((1, 3, 6, 6), (48, 104, 208, 440)):
        for index in range(depth):
            block_in = c_in if index == 0 else width
            squeeze = round(0.25 * block_in)
            total += (_conv(block_in, width, 1) + 2 * width  # a
                      + _conv(width, width, 3, groups=width // 8) + 2 * width  # b
                      + _conv(width, squeeze, 1, bias=True) + _conv(squeeze, width, 1, bias=True)
                      + _conv(width, width, 1) + 2 * width)  # c
            if index == 0:
                total += _conv(block_in, width, 1) + 2 * width  # proj
        c_in = width
    return total + _linear(440, 1000)


HAND_COUNTS = {"swin_t": _swin_t, "vgg11": _vgg11, "densenet121": _densenet121,
               "regnet_y_400mf": _regnet_y_400mf}


def _build(stem: str, factory: str):
    torch.manual_seed(0)
    return getattr(example(stem), factory)()


@pytest.mark.parametrize("stem, factory, params", NETWORKS, ids=IDS)
def test_parameter_count_is_the_stated_one(stem: str, factory: str, params: int) -> None:
    model, _ = _build(stem, factory)
    assert sum(p.numel() for p in model.parameters()) == params
    assert f"{params:,} parameters" in " ".join(example(stem).__doc__.split())
    if factory in HAND_COUNTS:
        assert HAND_COUNTS[factory]() == params


@pytest.mark.parametrize("stem, factory, params", NETWORKS, ids=IDS)
def test_analysis_runs_on_meta_with_every_op_costed(stem: str, factory: str,
                                                    params: int) -> None:
    model, x = _build(stem, factory)
    assert tuple(x.shape) == (1, 3, 224, 224)
    analysis = costlens.analyze(model, x)
    assert analysis.graph.device == "meta"
    assert analysis.unsupported_ops == ()
    assert analysis.totals.params == params
    assert analysis.totals.flops > 0


@pytest.mark.parametrize("stem, factory, params", NETWORKS, ids=IDS)
def test_real_forward_gives_imagenet_logits(stem: str, factory: str, params: int) -> None:
    model, x = _build(stem, factory)
    with torch.no_grad():
        assert tuple(model(x).shape) == (1, 1000)


def test_swin_shifts_all_but_the_last_stage_and_masks_the_shifted_windows() -> None:
    model, _ = _build("swin", "swin_t")
    attentions = [m for m in model.modules() if type(m).__name__ == "ShiftedWindowAttention"]
    assert [a.shift for a in attentions] == [0, 3] * 5 + [0, 0]
    for attention in attentions:
        assert (attention.attn_mask is not None) == bool(attention.shift)
    mask = attentions[1].attn_mask  # stage 1: 8x8 windows of 49 tokens
    assert tuple(mask.shape) == (64, 1, 49, 49)
    assert not mask[0].any() and mask[-1].any()  # only border windows mix regions
