"""Max and average pooling, fixed-window and adaptive, 1d to 3d.

One op (a compare or an add) per window element per output point, padding taps included, as
the kernels visit them. A max pool that also returns indices writes them too (MAC).
"""
from __future__ import annotations

import math
import re

from ..graph import OpNode
from .category import Category
from .registry import OpCost, first_input, formula, measured


@formula("aten.max_pool1d", "aten.max_pool2d", "aten.max_pool3d",
         "aten.max_pool1d_with_indices", "aten.max_pool2d_with_indices",
         "aten.max_pool3d_with_indices", "aten.mkldnn_max_pool2d", "aten.mkldnn_max_pool3d",
         "aten.avg_pool1d", "aten.avg_pool2d", "aten.avg_pool3d")
def window_pool(node: OpNode) -> OpCost:
    return measured(node, node.outputs[0].numel * window_taps(node), Category.POOLING)


@formula("aten._adaptive_avg_pool2d", "aten._adaptive_avg_pool3d", "aten.adaptive_avg_pool1d",
         "aten.adaptive_max_pool1d", "aten.adaptive_max_pool2d", "aten.adaptive_max_pool3d")
def adaptive_pool(node: OpNode) -> OpCost:
    """Output i of a dimension of size I pooled to O averages inputs floor(i*I/O) up to
    ceil((i+1)*I/O): windows that tile the input when O divides I, overlap otherwise."""
    source, out = first_input(node), node.outputs[0]
    spatial = len(out.shape) - 2 if len(out.shape) > 2 else len(out.shape) - 1
    taps = 1
    for size, pooled in zip(source.shape[-spatial:], out.shape[-spatial:]):
        taps *= sum(-(-(i + 1) * size // pooled) - i * size // pooled for i in range(pooled))
    planes = out.numel // math.prod(out.shape[-spatial:])
    return measured(node, planes * taps, Category.POOLING)


@formula("aten.mean")
def mean(node: OpNode) -> OpCost:
    """One add per element reduced. A mean over every spatial dimension of a 2-D or 3-D map
    (N, C, H, W or N, C, D, H, W) is a global average pool, and a pooling op (one of the
    paper's fragments) however it is written: AdaptiveAvgPool2d(1) runs as exactly this mean,
    as does x.mean((2, 3)). Any other mean is a reduction."""
    source = first_input(node)
    rank = len(source.shape)
    dims = node.attr("dim")
    reduced = {int(d) % rank for d in dims} if isinstance(dims, (list, tuple)) and rank else set()
    spatial = rank in (4, 5) and reduced == set(range(2, rank))
    return measured(node, source.numel, Category.POOLING if spatial else Category.REDUCTION)


def window_taps(node: OpNode) -> int:
    """Elements of a fixed pooling window: `kernel_size` given once or per dimension of the
    `pool<N>d` op (its backward's too)."""
    spatial_dims = int(re.search(r"pool(\d)d", node.packet).group(1))
    kernel = tuple(node.attr("kernel_size"))
    return math.prod(kernel * spatial_dims if len(kernel) == 1 else kernel)
