"""Attention as torch runs it: scaled_dot_product_attention and its fused kernels.

nn.MultiheadAttention and nn.TransformerEncoderLayer reach it too when they need no attention
weights (`need_weights=False`, as the encoder layer calls it): under tracing torch skips their
CPU/CUDA fast paths (any tracing mode disables them) and runs the projections plus
scaled_dot_product_attention, the same arithmetic. Asked for the weights, they compute them
explicitly (bmm, softmax, bmm), and that is what is counted.

Per query-key score: E multiply-adds for QK^T and Ev for the weighted sum of V (the full L x S
square, as dense kernels compute it; no causal halving), plus 1 op to scale, 5 for the softmax
(see reduction.py), 1 for a mask and 1 for dropout when there is one. A fused kernel never
writes the score matrix, so MAC counts only q, k, v, the mask and the outputs.
"""
from __future__ import annotations

from ..graph import OpNode
from .category import Category
from .reduction import SOFTMAX_FLOPS_PER_ELEMENT
from .registry import OpCost, formula, measured

_SCALE_FLOPS_PER_SCORE = 1


def attention_flops(queries: int, keys: int, head_dim: int, value_dim: int, *, masked: bool,
                    dropout: bool) -> int:
    """Multiply-adds of dropout(softmax(q k^T * scale + mask)) v for `queries` query rows (all
    batches and heads together), each against `keys` keys."""
    scores = queries * keys
    per_score = _SCALE_FLOPS_PER_SCORE + SOFTMAX_FLOPS_PER_ELEMENT + int(masked) + int(dropout)
    return scores * (head_dim + value_dim) + scores * per_score


@formula("aten.scaled_dot_product_attention", "aten._scaled_dot_product_flash_attention",
         "aten._scaled_dot_product_flash_attention_for_cpu",
         "aten._scaled_dot_product_efficient_attention",
         "aten._scaled_dot_product_cudnn_attention",
         "aten._scaled_dot_product_fused_attention_overrideable")
def scaled_dot_product_attention(node: OpNode) -> OpCost:
    query, key, value = node.arg("query"), node.arg("key"), node.arg("value")
    masked = bool(node.attr("is_causal", False)) or any(
        node.arg(name) is not None for name in ("attn_mask", "attn_bias"))
    dropout = float(node.attr("dropout_p", 0.0) or 0.0) > 0.0
    queries = query.numel // query.shape[-1]  # batch * query heads * L; GQA shares k/v heads
    flops = attention_flops(queries, key.shape[-2], query.shape[-1], value.shape[-1],
                            masked=masked, dropout=dropout)
    return measured(node, flops, Category.ATTENTION)
