"""Element-wise ops: one FLOP per output element; MAC = inputs (broadcast ones at their real
size) + output."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import Lambda, kernels, only_kernel

import costlens

X = (2, 3, 4, 4)
N = 2 * 3 * 4 * 4


@pytest.mark.parametrize("function", [
    torch.relu, F.relu6, F.hardswish, F.gelu, F.silu, torch.sigmoid, torch.tanh,
    F.leaky_relu, F.elu, F.hardsigmoid, F.mish, torch.neg, torch.exp,
])
def test_unary_activation(function) -> None:
    op = only_kernel(function, torch.randn(X))
    assert op.category == "elementwise"
    assert (op.flops, op.mac, op.parallelism) == (N, 2 * N, N)


def test_binary_add_reads_a_broadcast_operand_once() -> None:
    op = only_kernel(torch.add, torch.randn(X), torch.randn(1, 3, 1, 1))
    assert (op.flops, op.mac) == (N, N + 3 + N)


def test_expanded_operand_counts_its_distinct_elements() -> None:
    op = only_kernel(lambda x, b: x * b.expand(X), torch.randn(X), torch.randn(1, 3, 1, 1))
    assert op.mac == N + 3 + N


def test_in_place_reads_and_writes_the_same_tensor() -> None:
    op = only_kernel(lambda x: F.relu(x, inplace=True), torch.randn(X))
    assert op.op == "aten.relu_.default"
    assert (op.flops, op.mac) == (N, 2 * N)


@pytest.mark.parametrize("function", [
    lambda x: x.masked_fill(x > 0, 0.0), lambda x: torch.where(x > 0, x, 0.0),
])
def test_selects_cost_one_op_per_element(function) -> None:
    select = kernels(function, torch.randn(X))[-1]
    assert (select.category, select.flops) == ("elementwise", N)


def test_dropout_in_training_mode() -> None:
    analysis = costlens.analyze(Lambda(lambda x: F.dropout(x, 0.5, training=True)),
                                torch.randn(X), train=True)
    assert analysis.unsupported_ops == ()
    assert analysis.totals.flops >= N
