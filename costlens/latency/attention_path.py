"""Which kernel a CPU's scaled_dot_product_attention runs, and the ops of its math path.

On a CPU, torch runs its fused (flash) kernel only for 4-D query, key and value with no mask or
a 2-D or 4-D one. Anything else (Swin's windows as a fifth dimension, a 3-D mask) runs the math
path op by op: query and key each scaled, the scores' product, the mask added, a "safe"
softmax (softmax, then isneginf, all and where, which zero the rows that are all masked) and
the product with the values. Every pass over the score matrix moves it through memory again,
so on Swin-T's windows the math path takes several times what the fused kernel would; costing
it as the fused kernel underestimated Swin-T by a third. The estimate times each of these ops
on its own kernel class, as the device runs them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..graph import OpNode
from .classes import KernelClass

_FUSED_DIMENSIONS = 4
_FUSED_MASK_DIMENSIONS = (2, 4)
_BOOL_BYTES = 1


@dataclass(frozen=True)
class PathOp:
    """One op of the math path: what its roofline needs."""

    kernel_class: KernelClass
    flops: int
    mac_bytes: int
    parallelism: int


def math_path(node: OpNode) -> list[PathOp] | None:
    """The ops a CPU runs for the attention op `node` when its fused kernel does not take the
    inputs; None when it does (or `node` is not scaled_dot_product_attention)."""
    if node.packet != "aten.scaled_dot_product_attention":
        return None
    query, key, value = node.arg("query"), node.arg("key"), node.arg("value")
    mask = node.arg("attn_mask")
    if query is None or key is None or value is None:
        return None
    if all(len(t.shape) == _FUSED_DIMENSIONS for t in (query, key, value)) and (
            mask is None or len(mask.shape) in _FUSED_MASK_DIMENSIONS):
        return None
    item = query.itemsize
    rows = query.numel // query.shape[-1]  # every batch and head's query rows
    keys, head_dim, value_dim = key.shape[-2], query.shape[-1], value.shape[-1]
    scores = rows * keys
    score_bytes = scores * item
    flags = scores * _BOOL_BYTES
    out = rows * value_dim
    ops = [
        PathOp(KernelClass.ELEMENTWISE, query.numel, 2 * query.numel * item, query.numel),
        PathOp(KernelClass.ELEMENTWISE, key.numel, 2 * key.numel * item, key.numel),
        PathOp(KernelClass.MATMUL, scores * head_dim,
               (query.numel + key.numel) * item + score_bytes, scores),
    ]
    if mask is not None:
        ops.append(PathOp(KernelClass.ELEMENTWISE, scores,
                          2 * score_bytes + math.prod(mask.shape) * mask.itemsize, scores))
    ops += [
        PathOp(KernelClass.REDUCTION, 5 * scores, 2 * score_bytes, scores),  # softmax
        PathOp(KernelClass.ELEMENTWISE, scores, score_bytes + flags, scores),  # isneginf
        PathOp(KernelClass.REDUCTION, scores, flags + rows, rows),  # all
        PathOp(KernelClass.ELEMENTWISE, scores, 2 * score_bytes + flags + rows, scores),  # where
        PathOp(KernelClass.MATMUL, scores * value_dim,
               score_bytes + (value.numel + out) * item, out),
    ]
    return ops
