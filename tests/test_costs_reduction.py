"""Reductions: one op per element reduced; softmax 5 per element."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from helpers import only_kernel


def test_sum_mean_amax_var() -> None:
    x = torch.randn(2, 3, 5)
    for function in (lambda t: t.sum(1), lambda t: t.mean(), lambda t: t.amax(-1),
                     lambda t: t.var(0)):
        op = only_kernel(function, x)
        assert (op.category, op.flops) == ("reduction", 30)


def test_softmax_and_log_softmax() -> None:
    x = torch.randn(2, 3, 5)
    assert only_kernel(lambda t: F.softmax(t, -1), x).flops == 5 * 30
    assert only_kernel(lambda t: F.log_softmax(t, 1), x).flops == 5 * 30
