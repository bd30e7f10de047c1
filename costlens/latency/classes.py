"""Which kernel class of a platform profile an op's time is predicted with.

The cost categories (conv, elementwise, ...) say what an op computes; a kernel class also says
which library kernel runs it, because a depthwise 3x3 and a dense 3x3 conv of equal FLOPs differ
several-fold in speed on every device.
"""
from __future__ import annotations

import math

from ..graph import OpNode

VIEW = "view"
UNSUPPORTED = "unsupported"

_BY_CATEGORY = {
    "matmul": "matmul", "attention": "attention", "elementwise": "elementwise",
    "normalization": "normalization", "reduction": "reduction", "movement": "movement",
    "view": VIEW,
}


def kernel_class(node: OpNode, category: str | None) -> str:
    """The profile class of `node`, whose cost category is `category` (None: no formula)."""
    if category is None:
        return UNSUPPORTED
    if category == "conv":
        return conv_class(node)
    if category == "pooling":
        return "pool_max" if "max" in node.packet else "pool_avg"
    return _BY_CATEGORY[category]


def conv_class(node: OpNode) -> str:
    weight = node.arg("weight")
    groups = int(node.attr("groups", 1) or 1)
    if weight is None:
        return "conv_dense"
    if groups > 1:
        transposed = bool(node.attr("transposed", False))
        per_group_in = weight.shape[0] // groups if transposed else weight.shape[1]
        return "conv_depthwise" if per_group_in == 1 else "conv_grouped"
    return "conv_1x1" if math.prod(weight.shape[2:]) == 1 else "conv_dense"


def shape_features(node: OpNode, kernel_class: str, flops: int,
                   parallelism: int) -> tuple[float, ...]:
    """What besides its FLOPs and bytes decides how efficiently a kernel of the class runs an
    op, in decades (log10), as the size correction compares ops with calibration samples.

    A conv: input and output channels per group, the kernel's area and the output positions
    (map pixels times batch), which decide how a library tiles it into vector lanes and
    blocks: a 3x3 conv with 4 channels per group and a 1x1 conv with 32 can have the same
    FLOPs and bytes and run five times apart, and a 1x1 conv on a 7x7 map runs well below the
    same FLOPs on 14x14. Any other op: its work per output element (a matmul's inner
    dimension, a pooling window).
    """
    weight = node.arg("weight")
    if kernel_class.startswith("conv_") and weight is not None and len(weight.shape) > 2:
        groups = int(node.attr("groups", 1) or 1)
        # (out, in / groups, ...) for a conv; (in, out / groups, ...) for a transposed one
        in_channels, out_channels = weight.shape[0] // groups, weight.shape[1]
        if not node.attr("transposed"):
            in_channels, out_channels = out_channels, in_channels
        positions = max(parallelism, 1) // (out_channels * groups)
        return conv_features(in_channels, out_channels, math.prod(weight.shape[2:]), positions)
    return work_features(flops, parallelism)


def conv_features(in_per_group: int, out_per_group: int, kernel_area: int,
                  positions: int) -> tuple[float, ...]:
    """shape_features of a conv with these channels per group, kernel area and output
    positions."""
    return (math.log10(in_per_group), math.log10(out_per_group), math.log10(kernel_area),
            math.log10(max(positions, 1)))


def work_features(flops: int, parallelism: int) -> tuple[float, ...]:
    """shape_features of an op other than a conv: its work per output element."""
    return (math.log10(flops / max(parallelism, 1) + 1),)
