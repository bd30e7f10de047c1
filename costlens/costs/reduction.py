"""Reductions and softmax: one op per element reduced.

Softmax is a max reduction, a subtraction, an exp, a sum reduction and a division: 5 ops per
element (log_softmax swaps the division for a subtraction of the log: also 5).
"""
from __future__ import annotations

from ..graph import OpNode
from .category import Category
from .registry import OpCost, first_input, formula, measured, tag_formula

SOFTMAX_FLOPS_PER_ELEMENT = 5


@tag_formula("reduction")
@formula("aten.cumsum", "aten.cumprod", "aten.logcumsumexp", "aten.sort", "aten.topk",
         "aten.kthvalue", "aten.median", "aten.mode", "aten.count_nonzero", "aten.aminmax")
def reduction(node: OpNode) -> OpCost:
    return measured(node, first_input(node).numel, Category.REDUCTION)


@formula("aten._softmax", "aten._log_softmax", "aten._safe_softmax", "aten.softmax",
         "aten.log_softmax")
def softmax(node: OpNode) -> OpCost:
    return measured(node, SOFTMAX_FLOPS_PER_ELEMENT * first_input(node).numel, Category.REDUCTION)
