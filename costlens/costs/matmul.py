"""Matrix products: mm, addmm, bmm, baddbmm, mv, dot.

Linear layers, `@`, `matmul` and `einsum` reach the dispatcher as these, so one count covers
them all: every output element is a k-long chain of multiply-adds, k the contracted size. The
added term of addmm / baddbmm (a linear layer's bias) initializes the accumulator: read, not
counted as FLOPs.
"""
from __future__ import annotations

from ..graph import OpNode, TensorMeta
from .category import Category
from .registry import OpCost, formula, measured

# The left operand's argument name in each schema; its last dimension is the contracted one.
_LEFT_OPERANDS = ("mat1", "batch1", "mat", "self")


@formula("aten.mm", "aten.addmm", "aten.bmm", "aten.baddbmm", "aten._int_mm", "aten.mv",
         "aten.addmv", "aten.dot", "aten.vdot")
def matrix_product(node: OpNode) -> OpCost:
    return measured(node, _products(node), Category.MATMUL)


@formula("aten._addmm_activation")
def matrix_product_activation(node: OpNode) -> OpCost:
    """addmm with a fused ReLU/GELU epilogue: one more op per output element."""
    return measured(node, _products(node) + node.outputs[0].numel, Category.MATMUL)


def _products(node: OpNode) -> int:
    return node.outputs[0].numel * _left(node).shape[-1]


def _left(node: OpNode) -> TensorMeta:
    for name in _LEFT_OPERANDS:
        tensor = node.arg(name)
        if tensor is not None:
            return tensor
    raise ValueError(f"{node.op}: no left operand among {_LEFT_OPERANDS}")


@formula("aten._cdist_forward")
def pairwise_distance(node: OpNode) -> OpCost:
    """||x1_i - x2_j||_p for every pair: a subtraction and a multiply-add per coordinate."""
    return measured(node, 2 * node.outputs[0].numel * node.arg("x1").shape[-1], Category.MATMUL)
