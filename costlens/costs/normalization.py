"""Batch, layer, group, instance and RMS normalization, fvcore's counts per element.

Computing statistics (training-mode batch norm, layer / group / instance norm): mean, variance,
subtract, scale = 4 ops per element, 5 with the affine weight and bias. Eval-mode batch norm
uses stored statistics: 1 op per element, 2 with the affine. RMS norm: square, mean, scale =
3, 4 with the weight.
"""
from __future__ import annotations

from typing import Sequence

from ..graph import OpNode, TensorMeta
from .category import Category
from .registry import OpCost, first_input, formula, measured

STATISTICS_FLOPS_PER_ELEMENT = 4


@formula("aten.native_batch_norm", "aten._native_batch_norm_legit",
         "aten._native_batch_norm_legit_functional", "aten.cudnn_batch_norm",
         "aten.miopen_batch_norm", "aten._batch_norm_with_update",
         "aten._batch_norm_with_update_functional")
def batch_norm(node: OpNode) -> OpCost:
    training = node.attr("training", True)
    if not training and node.arg("running_mean") is not None:
        return batch_norm_inference(node)
    return _per_element(node, STATISTICS_FLOPS_PER_ELEMENT)


@formula("aten._native_batch_norm_legit_no_training", "aten._batch_norm_no_update")
def batch_norm_inference(node: OpNode) -> OpCost:
    """Stored statistics: only the normalized output is written (some backends still return
    batch-statistics tensors, empty or not, that no kernel fills)."""
    return _per_element(node, 1, writes=node.outputs[:1])


@formula("aten.native_layer_norm", "aten.native_group_norm")
def layer_norm(node: OpNode) -> OpCost:
    return _per_element(node, STATISTICS_FLOPS_PER_ELEMENT)


@formula("aten.rms_norm", "aten._fused_rms_norm")
def rms_norm(node: OpNode) -> OpCost:
    return _per_element(node, 3)


def _per_element(node: OpNode, base: int, writes: Sequence[TensorMeta] | None = None) -> OpCost:
    affine = 1 if node.arg("weight") is not None else 0
    return measured(node, (base + affine) * first_input(node).numel, Category.NORMALIZATION,
                    writes=writes)
