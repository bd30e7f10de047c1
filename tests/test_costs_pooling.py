"""Pooling: one op per window element per output point; adaptive pools one per input element."""
from __future__ import annotations

import torch
from torch import nn

from conftest import only_kernel


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
