"""Convolutions of any rank, stride, padding, dilation and groups, transposed or not.

One multiply-add per weight tap per output point: N * Cout * prod(out spatial) * Cin/g * prod(k),
which is fvcore's and torchvision's count. A transposed convolution scatters each input point
through the kernel instead, so it counts per input point. The bias is the accumulator's initial
value: read (in MAC), never an extra FLOP.
"""
from __future__ import annotations

import math

from ..graph import OpNode
from .category import Category
from .registry import OpCost, first_input, formula, measured


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
    return measured(node, node.outputs[0].numel * taps, conv_category(node))


@formula("aten.cudnn_convolution_transpose", "aten.miopen_convolution_transpose",
         "aten.slow_conv_transpose2d", "aten.slow_conv_transpose3d")
def _transposed(node: OpNode) -> OpCost:
    weight = node.arg("weight")
    taps = math.prod(weight.shape[1:])  # Cout/groups * prod(kernel) per input point
    return measured(node, first_input(node).numel * taps, conv_category(node))


def input_channels_per_group(node: OpNode) -> int:
    """The weight is (out, in / groups, ...) for a convolution, (in, out / groups, ...) for a
    transposed one."""
    weight = node.arg("weight")
    if node.attr("transposed", False):
        return weight.shape[0] // int(node.attr("groups", 1) or 1)
    return weight.shape[1]


def conv_category(node: OpNode) -> Category:
    """DEPTHWISE for a grouped convolution with one input channel per group, else CONV."""
    groups = int(node.attr("groups", 1) or 1)
    if groups > 1 and input_channels_per_group(node) == 1:
        return Category.DEPTHWISE
    return Category.CONV


@formula("aten.convolution_backward")
def convolution_backward(node: OpNode) -> OpCost:
    """The gradients of a convolution: of its input (a transposed convolution of the output's
    gradient) and of its weight (a correlation of input and output gradient) each take the
    forward's multiply-adds, as FlopCounterMode counts them; of its bias, a sum of the output's
    gradient that, like the forward's bias, costs MAC but no FLOPs. `output_mask` says which
    of the three autograd asked for: no input gradient for a first layer."""
    weight = node.arg("weight")
    taps = math.prod(weight.shape[1:])
    points = node.arg("input").numel if node.attr("transposed", False) \
        else node.arg("grad_output").numel
    wanted = tuple(node.attr("output_mask", (True, True, True)))
    return measured(node, points * taps * (int(wanted[0]) + int(wanted[1])),
                    conv_category(node))
