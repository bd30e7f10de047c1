"""Convolutions of any rank, stride, padding, dilation and groups, transposed or not.

One multiply-add per weight tap per output point: N * Cout * prod(out spatial) * Cin/g * prod(k),
which is fvcore's and torchvision's count. A transposed convolution scatters each input point
through the kernel instead, so it counts per input point. The bias is the accumulator's initial
value: read (in MAC), never an extra FLOP.
"""
from __future__ import annotations

import math

from ..graph import OpNode
from .registry import Category, OpCost, first_input, formula, measured


@formula("aten.convolution", "aten._convolution", "aten.convolution_overrideable",
         "aten.cudnn_convolution", "aten.mkldnn_convolution", "aten.miopen_convolution",
         "aten.miopen_depthwise_convolution", "aten._slow_conv2d_forward",
         "aten.slow_conv3d_forward", "aten.slow_conv_dilated2d", "aten.slow_conv_dilated3d",
         "aten.thnn_conv2d", "aten._conv_depthwise2d", "aten.conv_depthwise3d")
def convolution(node: OpNode) -> OpCost:
    if node.attr("transposed", False):
        return _transposed(node)
    weight = node.arg("weight")
    taps = math.prod(weight.shape[1:])  # Cin/groups * prod(kernel) per output point
    return measured(node, node.outputs[0].numel * taps, Category.CONV)


@formula("aten.cudnn_convolution_transpose", "aten.miopen_convolution_transpose",
         "aten.slow_conv_transpose2d", "aten.slow_conv_transpose3d")
def _transposed(node: OpNode) -> OpCost:
    weight = node.arg("weight")
    taps = math.prod(weight.shape[1:])  # Cout/groups * prod(kernel) per input point
    return measured(node, first_input(node).numel * taps, Category.CONV)
