"""Convolution formulas against hand counts: N*Cout*prod(out)*Cin/g*prod(k) multiply-adds,
MAC = input + weight + bias + output elements."""
from __future__ import annotations

import pytest
import torch
from helpers import only_kernel
from torch import nn


def test_strided_padded_conv_with_bias() -> None:
    op = only_kernel(nn.Conv2d(8, 16, 3, stride=2, padding=1), torch.randn(1, 8, 32, 32))
    assert op.op == "aten.convolution.default"
    assert op.outputs == ((1, 16, 16, 16),)
    assert op.flops == 16 * 16 * 16 * (8 * 3 * 3)
    assert op.mac == 8 * 32 * 32 + 16 * 8 * 9 + 16 + 16 * 16 * 16
    assert op.mac_bytes == 4 * op.mac
    assert op.parallelism == 16 * 16 * 16


def test_dilated_conv_counts_taps_not_span() -> None:
    conv = nn.Conv2d(4, 4, 3, padding=2, dilation=2, bias=False)
    op = only_kernel(conv, torch.randn(2, 4, 10, 10))
    assert op.outputs == ((2, 4, 10, 10),)
    assert op.flops == 2 * 4 * 10 * 10 * (4 * 9)


def test_grouped_conv_divides_input_channels() -> None:
    op = only_kernel(nn.Conv2d(8, 16, 3, padding=1, groups=4, bias=False), torch.randn(1, 8, 6, 6))
    assert op.flops == 16 * 6 * 6 * (2 * 9)
    assert op.mac == 8 * 36 + 16 * 2 * 9 + 16 * 36


def test_depthwise_conv() -> None:
    op = only_kernel(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), torch.randn(1, 8, 5, 5))
    assert op.flops == 8 * 25 * 9
    assert op.mac == 8 * 25 + 8 * 9 + 8 * 25


def test_transposed_conv_counts_per_input_point() -> None:
    op = only_kernel(nn.ConvTranspose2d(8, 4, 3, stride=2, bias=False), torch.randn(1, 8, 10, 10))
    assert op.outputs == ((1, 4, 21, 21),)
    assert op.flops == 8 * 10 * 10 * (4 * 9)


def test_grouped_transposed_conv() -> None:
    op = only_kernel(nn.ConvTranspose2d(8, 4, 2, stride=2, groups=2, bias=False),
                     torch.randn(1, 8, 3, 3))
    assert op.flops == 8 * 9 * (2 * 4)  # each input point feeds Cout/g * k*k outputs


@pytest.mark.parametrize("module, shape, expected", [
    (nn.Conv1d(4, 6, 5, bias=False), (2, 4, 20), 2 * 6 * 16 * (4 * 5)),
    (nn.Conv3d(2, 3, (1, 3, 3), bias=False), (1, 2, 4, 8, 8), 3 * 4 * 6 * 6 * (2 * 9)),
])
def test_other_ranks(module: nn.Module, shape: tuple[int, ...], expected: int) -> None:
    assert only_kernel(module, torch.randn(shape)).flops == expected


def test_pointwise_conv_matches_the_papers_mac_formula() -> None:
    h, w, c1, c2 = 14, 14, 24, 144
    op = only_kernel(nn.Conv2d(c1, c2, 1, bias=False), torch.randn(1, c1, h, w))
    assert op.flops == h * w * c1 * c2
    assert op.mac == h * w * (c1 + c2) + c1 * c2


def test_half_precision_halves_bytes_not_elements() -> None:
    conv = nn.Conv2d(4, 4, 1, bias=False).half()
    op = only_kernel(conv, torch.randn(1, 4, 8, 8).half())
    assert op.mac_bytes == 2 * op.mac
