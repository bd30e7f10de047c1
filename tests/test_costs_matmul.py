"""Matrix products against hand counts: (n,k)@(k,m) is n*k*m multiply-adds, times the batch;
linear layers, `@`, matmul and einsum all land here."""
from __future__ import annotations

import torch
from helpers import kernels, only_kernel
from torch import nn


def test_linear_is_addmm_with_bias_read_not_counted() -> None:
    op = only_kernel(nn.Linear(10, 20), torch.randn(3, 10))
    assert op.op == "aten.addmm.default"
    assert op.flops == 3 * 10 * 20
    assert op.mac == 20 + 3 * 10 + 10 * 20 + 3 * 20


def test_linear_on_a_sequence_flattens_the_batch() -> None:
    op = only_kernel(nn.Linear(10, 20, bias=False), torch.randn(2, 5, 10))
    assert op.op == "aten.mm.default"
    assert op.flops == 2 * 5 * 10 * 20


def test_bmm_and_baddbmm() -> None:
    a, b, c = torch.randn(4, 3, 5), torch.randn(4, 5, 2), torch.randn(4, 3, 2)
    assert only_kernel(torch.bmm, a, b).flops == 4 * 3 * 5 * 2
    op = only_kernel(torch.baddbmm, c, a, b)
    assert op.op == "aten.baddbmm.default"
    assert op.flops == 4 * 3 * 5 * 2


def test_broadcast_matmul() -> None:
    ops = kernels(torch.matmul, torch.randn(2, 1, 3, 4), torch.randn(5, 4, 6))
    assert sum(op.flops for op in ops) == 2 * 5 * 3 * 4 * 6


def test_einsum_contraction() -> None:
    ops = kernels(lambda x, y: torch.einsum("bij,bjk->bik", x, y),
                  torch.randn(3, 4, 5), torch.randn(3, 5, 6))
    assert [op.category for op in ops] == ["matmul"]
    assert ops[0].flops == 3 * 4 * 5 * 6


def test_matrix_vector_and_dot() -> None:
    assert only_kernel(torch.mv, torch.randn(7, 3), torch.randn(3)).flops == 7 * 3
    assert only_kernel(torch.dot, torch.randn(9), torch.randn(9)).flops == 9


def test_out_buffer_is_written_not_read() -> None:
    a, b, out = torch.randn(3, 4), torch.randn(4, 5), torch.empty(3, 5)
    op = only_kernel(lambda x, y, o: torch.mm(x, y, out=o), a, b, out)
    assert op.mac == 12 + 20 + 15


def test_pairwise_distances() -> None:
    op = only_kernel(lambda x, y: torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist"),
                     torch.randn(2, 5, 3), torch.randn(2, 6, 3))
    assert op.flops == 2 * (2 * 5 * 6) * 3
