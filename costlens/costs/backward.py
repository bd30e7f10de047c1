"""The backward kernels of a training step that no forward formula covers.

Matrix products are the forward's formulas (autograd runs mm and bmm), and convolutions have
theirs in conv.py. The rest, per element of the output's gradient:

- attention, as a fused kernel runs it: four products (dQ, dK with the key width, dV, dP with
  the value width per query-key score, twice the forward's two, as FlopCounterMode counts
  them), the scores recomputed (scale and softmax: 6 ops per score), the softmax's gradient
  (3: a product, its row sum, a difference scaled) and the mask and dropout once more;
- a normalization with statistics: 8 (twice the forward's statistics pass: two sums over the
  gradient, then the input's gradient), RMS norm 6; the weight and bias gradients come from the
  same sums;
- softmax: 3 (a product with the output, its row sum, a difference);
- pooling: the forward's window taps, spread back (an average pool adds each gradient to
  every input of its window, a max pool to the one that won);
- an embedding: one add per gathered element, into a gradient as large as the table.
"""
from __future__ import annotations

from ..graph import OpNode, TensorMeta
from .attention import attention_flops
from .category import Category
from .pooling import window_taps
from .registry import OpCost, first_input, formula, measured

NORM_BACKWARD_FLOPS_PER_ELEMENT = 8
RMS_NORM_BACKWARD_FLOPS_PER_ELEMENT = 6
SOFTMAX_BACKWARD_FLOPS_PER_ELEMENT = 3
ATTENTION_BACKWARD_FLOPS_PER_SCORE = 3


def attention_backward_products(queries: int, keys: int, head_dim: int, value_dim: int) -> int:
    """The multiply-adds of the four products alone: what FlopCounterMode counts (halved)."""
    return 2 * queries * keys * (head_dim + value_dim)


@formula("aten._scaled_dot_product_flash_attention_backward",
         "aten._scaled_dot_product_flash_attention_for_cpu_backward",
         "aten._scaled_dot_product_efficient_attention_backward",
         "aten._scaled_dot_product_cudnn_attention_backward",
         "aten._scaled_dot_product_fused_attention_overrideable_backward",
         "aten._flash_attention_backward", "aten._efficient_attention_backward")
def attention_backward(node: OpNode) -> OpCost:
    query, key, value = node.arg("query"), node.arg("key"), node.arg("value")
    masked = bool(node.attr("is_causal", False)) or any(
        node.arg(name) is not None for name in ("attn_mask", "attn_bias", "bias"))
    dropout = float(node.attr("dropout_p", 0.0) or 0.0) > 0.0
    queries = query.numel // query.shape[-1]
    keys = key.shape[-2]
    recompute = attention_flops(queries, keys, query.shape[-1], value.shape[-1], masked=masked,
                                dropout=dropout) - queries * keys * (query.shape[-1]
                                                                     + value.shape[-1])
    flops = (attention_backward_products(queries, keys, query.shape[-1], value.shape[-1])
             + recompute + ATTENTION_BACKWARD_FLOPS_PER_SCORE * queries * keys)
    return measured(node, flops, Category.ATTENTION)


@formula("aten.native_batch_norm_backward", "aten.cudnn_batch_norm_backward",
         "aten.miopen_batch_norm_backward", "aten.native_layer_norm_backward",
         "aten.native_group_norm_backward", "aten.batch_norm_backward")
def normalization_backward(node: OpNode) -> OpCost:
    return measured(node, NORM_BACKWARD_FLOPS_PER_ELEMENT * _gradient(node).numel,
                    Category.NORMALIZATION)


@formula("aten._fused_rms_norm_backward")
def rms_norm_backward(node: OpNode) -> OpCost:
    return measured(node, RMS_NORM_BACKWARD_FLOPS_PER_ELEMENT * _gradient(node).numel,
                    Category.NORMALIZATION)


@formula("aten._softmax_backward_data", "aten._log_softmax_backward_data")
def softmax_backward(node: OpNode) -> OpCost:
    return measured(node, SOFTMAX_BACKWARD_FLOPS_PER_ELEMENT * _gradient(node).numel,
                    Category.REDUCTION)


@formula("aten.avg_pool1d_backward", "aten.avg_pool2d_backward", "aten.avg_pool3d_backward")
def average_pool_backward(node: OpNode) -> OpCost:
    return measured(node, _gradient(node).numel * window_taps(node), Category.POOLING)


@formula("aten.max_pool2d_with_indices_backward", "aten.max_pool3d_with_indices_backward",
         "aten.adaptive_max_pool2d_backward", "aten.adaptive_max_pool3d_backward")
def max_pool_backward(node: OpNode) -> OpCost:
    return measured(node, _gradient(node).numel, Category.POOLING)


@formula("aten._adaptive_avg_pool2d_backward", "aten._adaptive_avg_pool3d_backward")
def adaptive_average_pool_backward(node: OpNode) -> OpCost:
    return measured(node, first_input(node).numel if node.arg("self") is not None
                    else node.outputs[0].numel, Category.POOLING)


@formula("aten.embedding_dense_backward")
def embedding_backward(node: OpNode) -> OpCost:
    return measured(node, _gradient(node).numel, Category.MOVEMENT)


def _gradient(node: OpNode) -> TensorMeta:
    """The gradient flowing in: `grad_out`, `grad_output` (aten spells it both ways)."""
    return node.arg("grad_out") or node.arg("grad_output") or node.inputs[0].tensor
