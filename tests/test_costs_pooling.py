"""Pooling: one op per window element per output point; adaptive pools one per input element."""
from __future__ import annotations

import torch
from helpers import only_kernel
from torch import nn


def test_max_pool_counts_windows_and_writes_indices() -> None:
    op = only_kernel(nn.MaxPool2d(3, 2, 1), torch.randn(1, 4, 8, 8))
    assert op.category == "pooling"
    assert op.flops == 4 * 4 * 4 * 9
    assert op.mac == 256 + 64 + 64  # input, values, indices
    assert op.mac_bytes == 4 * (256 + 64) + 8 * 64


def test_avg_pool() -> None:
    op = only_kernel(nn.AvgPool2d(2), torch.randn(1, 4, 8, 8))
    assert (op.flops, op.mac) == (64 * 4, 256 + 64)


def test_one_and_three_dimensional_windows() -> None:
    assert only_kernel(nn.MaxPool1d(2), torch.randn(1, 4, 8)).flops == 16 * 2
    assert only_kernel(nn.AvgPool3d(2), torch.randn(1, 2, 4, 4, 4)).flops == 16 * 8


def test_adaptive_pools_touch_each_input_element_once() -> None:
    assert only_kernel(nn.AdaptiveAvgPool2d(2), torch.randn(1, 4, 8, 8)).flops == 256
    assert only_kernel(nn.AdaptiveMaxPool2d(2), torch.randn(1, 4, 8, 8)).flops == 256


def test_global_average_pool_is_a_mean() -> None:
    op = only_kernel(nn.AdaptiveAvgPool2d(1), torch.randn(1, 4, 8, 8))
    assert (op.op, op.category, op.flops) == ("aten.mean.dim", "reduction", 256)


def test_adaptive_windows_overlap_when_the_size_does_not_divide() -> None:
    # windows of 7 -> 4: [0,2) [1,4) [3,6) [5,7): 2 + 3 + 3 + 2 taps
    assert only_kernel(nn.AdaptiveAvgPool1d(4), torch.randn(1, 1, 7)).flops == 10
    # upsampling 2x2 -> 8x8: every output reads one input
    assert only_kernel(nn.AdaptiveAvgPool2d(8), torch.randn(1, 1, 2, 2)).flops == 64


def test_parallelism_is_the_first_output() -> None:
    assert only_kernel(nn.MaxPool2d(2), torch.randn(1, 4, 8, 8)).parallelism == 64
