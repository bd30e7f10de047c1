"""Pooling: one op per window element per output point; adaptive pools one per input element."""
from __future__ import annotations

import pytest
import torch
from helpers import Lambda, only_kernel
from torch import nn

import costlens


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


def test_global_average_pool_is_a_mean_and_a_pooling_op() -> None:
    """Counted as a fragment, as the units table says pooling ops are, however it is written;
    timed as the mean reduction kernel it runs."""
    from costlens.latency.classes import KernelClass, kernel_class
    for layer in (nn.AdaptiveAvgPool2d(1), Lambda(lambda x: x.mean((2, 3))),
                  Lambda(lambda x: x.mean((-1, -2), keepdim=True))):
        analysis = costlens.analyze(layer, torch.randn(1, 4, 8, 8))
        (op,) = [op for op in analysis.ops if op.category.launches_kernel]
        assert (op.op, op.category, op.flops) == ("aten.mean.dim", "pooling", 256)
        assert analysis.layer("").block.fragments == 1
        assert kernel_class(analysis.graph.nodes[op.index], op.category) is KernelClass.REDUCTION


@pytest.mark.parametrize("reduce", [lambda x: x.mean(-1), lambda x: x.mean(1),
                                    lambda x: x.mean()], ids=["last", "channels", "all"])
def test_any_other_mean_is_a_reduction(reduce) -> None:
    op = only_kernel(Lambda(reduce), torch.randn(1, 4, 8, 8))
    assert op.category == "reduction"


def test_adaptive_windows_overlap_when_the_size_does_not_divide() -> None:
    # windows of 7 -> 4: [0,2) [1,4) [3,6) [5,7): 2 + 3 + 3 + 2 taps
    assert only_kernel(nn.AdaptiveAvgPool1d(4), torch.randn(1, 1, 7)).flops == 10
    # upsampling 2x2 -> 8x8: every output reads one input
    assert only_kernel(nn.AdaptiveAvgPool2d(8), torch.randn(1, 1, 2, 2)).flops == 64


def test_parallelism_is_the_first_output() -> None:
    assert only_kernel(nn.MaxPool2d(2), torch.randn(1, 4, 8, 8)).parallelism == 64
