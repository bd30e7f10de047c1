"""Max and average pooling, fixed-window and adaptive, 1d to 3d.

One op (a compare or an add) per window element per output point. An adaptive pool's windows
tile its input, so it costs one op per input element. A max pool that also returns indices
writes them too (MAC).
"""
from __future__ import annotations

import re

from ..graph import OpNode
from .registry import Category, OpCost, first_input, formula, measured, product


@formula("aten.max_pool1d", "aten.max_pool2d", "aten.max_pool3d",
         "aten.max_pool1d_with_indices", "aten.max_pool2d_with_indices",
         "aten.max_pool3d_with_indices", "aten.mkldnn_max_pool2d", "aten.mkldnn_max_pool3d",
         "aten.avg_pool1d", "aten.avg_pool2d", "aten.avg_pool3d")
def window_pool(node: OpNode) -> OpCost:
    out = node.outputs[0]
    spatial_dims = int(re.search(r"pool(\d)d", node.packet).group(1))
    window = product(_window(node, spatial_dims))
    return measured(node, out.numel * window, Category.POOLING)


@formula("aten._adaptive_avg_pool2d", "aten._adaptive_avg_pool3d", "aten.adaptive_avg_pool1d",
         "aten.adaptive_max_pool1d", "aten.adaptive_max_pool2d", "aten.adaptive_max_pool3d")
def adaptive_pool(node: OpNode) -> OpCost:
    return measured(node, first_input(node).numel, Category.POOLING)


def _window(node: OpNode, spatial_dims: int) -> tuple[int, ...]:
    kernel = tuple(node.attr("kernel_size"))
    return kernel * spatial_dims if len(kernel) == 1 else kernel
