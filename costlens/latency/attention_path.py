"""Which kernel a CPU's scaled_dot_product_attention runs, and the ops of its math path.

On a CPU, torch runs its fused (flash) kernel only for 4-D query, key and value with no mask or
a 2-D or 4-D one. Anything else (Swin's windows as a fifth dimension, a 3-D mask) runs the math
path op by op: query, key and value copied into rows where they are laid out otherwise (the
heads of one qkv projection, permuted), query and key each scaled, the scores' product, the
mask added, a "safe" softmax (softmax, then isneginf, all and where, which zero the rows that
are all masked) and the product with the values. Every pass over the score matrix moves it
through memory again: on one of Swin-T's window attentions here it takes 2.7 times what the
fused kernel takes on the same heads as 4-D. The estimate times each of these ops on its own
kernel class, as the device runs them, and prices the subnormal weights a mask of -100 leaves
(subnormals.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..graph import OpNode, TensorMeta
from .classes import KernelClass

_FUSED_DIMENSIONS = 4
_FUSED_MASK_DIMENSIONS = (2, 4)
_BOOL_BYTES = 1


@dataclass(frozen=True)
class PathOp:
    """One op of the math path: what its roofline needs, and the subnormal numbers it meets
    (softmax weights it makes, multiply-adds it runs on them); `logical`: a reduction of
    booleans (classes.logical_reduction)."""

    kernel_class: KernelClass
    flops: int
    mac_bytes: int
    parallelism: int
    subnormal_exps: int = 0
    subnormal_macs: int = 0
    logical: bool = False


def math_path(node: OpNode, subnormal_share: float = 0.0) -> list[PathOp] | None:
    """The ops a CPU runs for the attention op `node` when its fused kernel does not take the
    inputs; None when it does (or `node` is not scaled_dot_product_attention). A share
    `subnormal_share` of the softmax weights comes out subnormal (its mask's, subnormals.py)."""
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
    subnormal = round(subnormal_share * scores)
    # a product of inputs laid out otherwise (the heads of one qkv projection, permuted)
    # first copies them into rows: matmul folds the batch dimensions with a reshape
    copies = [PathOp(KernelClass.MOVEMENT, 0, 2 * t.numel * item, t.numel)
              for t in (query, key, value) if not _row_major(t)]
    ops = [
        *copies,
        PathOp(KernelClass.ELEMENTWISE, query.numel, 2 * query.numel * item, query.numel),
        PathOp(KernelClass.ELEMENTWISE, key.numel, 2 * key.numel * item, key.numel),
        PathOp(KernelClass.MATMUL, scores * head_dim,
               (query.numel + key.numel) * item + score_bytes, scores),
    ]
    if mask is not None:
        ops.append(PathOp(KernelClass.ELEMENTWISE, scores,
                          2 * score_bytes + mask.numel * mask.itemsize, scores))
    ops += [
        PathOp(KernelClass.REDUCTION, 5 * scores, 2 * score_bytes, scores,  # softmax
               subnormal_exps=subnormal),
        PathOp(KernelClass.ELEMENTWISE, scores, score_bytes + flags, scores),  # isneginf
        PathOp(KernelClass.REDUCTION, scores, flags + rows, rows, logical=True),  # all
        PathOp(KernelClass.ELEMENTWISE, scores, 2 * score_bytes + flags + rows, scores),  # where
        PathOp(KernelClass.MATMUL, scores * value_dim,
               score_bytes + (value.numel + out) * item, out,
               subnormal_macs=subnormal * value_dim),
    ]
    return ops


def _row_major(tensor: TensorMeta) -> bool:
    """Whether the tensor is laid out row after row, as a batched product reads it."""
    expected = 1
    for size, stride in zip(reversed(tensor.shape), reversed(tensor.stride)):
        if size != 1 and stride != expected:
            return False
        expected *= size
    return True
