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
