"""Normalization, fvcore's counts: stored statistics 1 op per element (+1 affine), computed
statistics 4 (+1 affine), RMS 3 (+1 weight)."""
from __future__ import annotations

import torch
from helpers import kernels, only_kernel
from torch import nn

import costlens

X = (2, 3, 4, 4)
N = 96


def test_batch_norm_in_eval_mode_uses_stored_statistics() -> None:
    op = only_kernel(nn.BatchNorm2d(3).eval(), torch.randn(X))
    assert op.category == "normalization"
    assert op.flops == 2 * N
    assert op.mac == N + 4 * 3 + N  # input, weight, bias, mean, var, output


def test_batch_norm_in_training_mode_computes_statistics() -> None:
    analysis = costlens.analyze(nn.BatchNorm2d(3), torch.randn(X), train=True)
    norm = [op for op in analysis.ops if op.category == "normalization"]
    assert [op.flops for op in norm] == [5 * N]


def test_layer_norm_and_group_norm() -> None:
    assert only_kernel(nn.LayerNorm(4), torch.randn(X)).flops == 5 * N
    assert only_kernel(nn.LayerNorm(4, elementwise_affine=False), torch.randn(X)).flops == 4 * N
    assert only_kernel(nn.GroupNorm(1, 3), torch.randn(X)).flops == 5 * N


def test_instance_norm_is_batch_norm_over_instances() -> None:
    norm = [op for op in kernels(nn.InstanceNorm2d(3), torch.randn(X))
            if op.category == "normalization"]
    assert [op.flops for op in norm] == [4 * N]


def test_rms_norm_is_one_fused_op() -> None:
    op = only_kernel(nn.RMSNorm(4), torch.randn(X))
    assert op.op == "aten.rms_norm.default"
    assert op.flops == 4 * N
