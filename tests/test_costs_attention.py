"""Attention against hand counts: per score E + Ev multiply-adds for the two products, 1 to
scale, 5 for the softmax, 1 for a mask; MAC without the score matrix (fused kernels)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from helpers import Lambda, only_kernel
from torch import nn

import costlens
from costlens.costs import cost_of
from costlens.graph import OpInput, OpNode, TensorMeta


def _sdpa(**options):
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **options)


def test_sdpa_is_one_fused_op() -> None:
    q, k, v = torch.randn(2, 4, 16, 8), torch.randn(2, 4, 32, 8), torch.randn(2, 4, 32, 6)
    op = only_kernel(_sdpa(), q, k, v)
    assert op.op == "aten.scaled_dot_product_attention.default"
    scores = 2 * 4 * 16 * 32
    assert op.flops == scores * (8 + 6) + scores * (1 + 5)
    assert op.mac == q.numel() + k.numel() + v.numel() + 2 * 4 * 16 * 6


def test_causal_and_masked_sdpa_add_one_op_per_score() -> None:
    q = torch.randn(1, 2, 8, 4)
    scores = 2 * 8 * 8
    plain = scores * (4 + 4) + scores * 6
    assert only_kernel(_sdpa(is_causal=True), q, q, q).flops == plain + scores
    masked = only_kernel(lambda q, m: F.scaled_dot_product_attention(q, q, q, attn_mask=m),
                         q, torch.zeros(8, 8))
    assert masked.flops == plain + scores


def test_grouped_query_attention_counts_query_heads() -> None:
    q, kv = torch.randn(1, 8, 16, 4), torch.randn(1, 2, 16, 4)
    op = only_kernel(_sdpa(enable_gqa=True), q, kv, kv)
    scores = 8 * 16 * 16
    assert op.flops == scores * 8 + scores * 6


def _node(op: str, inputs: dict[str, tuple[int, ...]], attrs: dict, outputs) -> OpNode:
    def meta(shape):
        return TensorMeta(shape, (0,) * len(shape), "float32", 4)
    return OpNode(0, op, tuple(OpInput(name, meta(shape)) for name, shape in inputs.items()),
                  tuple(meta(shape) for shape in outputs), tuple(attrs.items()), (), 0)


def test_cuda_fused_kernels_share_the_formula() -> None:
    shapes = {"query": (1, 2, 8, 4), "key": (1, 2, 8, 4), "value": (1, 2, 8, 4)}
    reference = cost_of(_node("aten.scaled_dot_product_attention.default", shapes, {},
                              [(1, 2, 8, 4)]))
    for op in ("aten._scaled_dot_product_flash_attention.default",
               "aten._scaled_dot_product_efficient_attention.default",
               "aten._scaled_dot_product_cudnn_attention.default"):
        assert cost_of(_node(op, shapes, {}, [(1, 2, 8, 4)])).flops == reference.flops


class _SelfAttention(nn.Module):
    def __init__(self, embed: int, heads: int) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(embed, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(x, x, x, need_weights=False)[0]


def test_multi_head_attention_module_runs_projections_and_fused_attention() -> None:
    batch, length, embed, heads = 2, 5, 16, 2
    analysis = costlens.analyze(_SelfAttention(embed, heads), torch.randn(batch, length, embed))
    by_category = {c.category: c for c in analysis.totals.by_category}
    rows, scores = batch * length, batch * heads * length * length
    assert by_category["matmul"].flops == 4 * rows * embed * embed  # q, k, v and out projections
    assert by_category["attention"].ops == 1
    assert by_category["attention"].flops == scores * 2 * (embed // heads) + scores * 6


def test_dropout_inside_attention_adds_one_op_per_score() -> None:
    q = torch.randn(1, 2, 8, 4)
    analysis = costlens.analyze(
        Lambda(lambda q: F.scaled_dot_product_attention(q, q, q, dropout_p=0.1)), q, train=True)
    (op,) = [op for op in analysis.ops if op.category == "attention"]
    scores = 2 * 8 * 8
    assert op.flops == scores * 8 + scores * 7
