"""Models that are hard to trace still analyze, with a note where the trace ran on real tensors:
values in control flow, data-dependent shapes, dict and dataclass outputs, recurrent layers,
custom autograd Functions and custom ops."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

import costlens


def test_masked_select_runs_for_real() -> None:
    class Select(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.proj(x)
            return y.masked_select(y > 0).sum()

    analysis = costlens.analyze(Select(), torch.randn(4, 8))
    assert analysis.graph.device == "cpu" and "masked_select" in analysis.graph.notes[0]
    assert analysis.unsupported_ops == ()


@dataclass
class Output:
    logits: torch.Tensor
    extras: dict


def test_dict_and_dataclass_outputs() -> None:
    class Heads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(8, 2), nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> Output:
            return Output(self.a(x), {"b": self.b(x), "none": None})

    analysis = costlens.analyze(Heads(), torch.randn(4, 8))
    assert analysis.graph.device == "meta"
    assert analysis.totals.flops == 4 * 8 * 2 + 4 * 8 * 3


@pytest.mark.parametrize("layer, gates", [(nn.RNN, 1), (nn.GRU, 3), (nn.LSTM, 4)])
def test_recurrent_layers(layer, gates: int) -> None:
    steps, batch, width, hidden = 5, 2, 8, 16
    analysis = costlens.analyze(layer(width, hidden), torch.randn(steps, batch, width))
    assert analysis.unsupported_ops == ()
    matmul = sum(op.flops for op in analysis.ops if op.category == "matmul")
    # each step: input and hidden projections of every gate
    assert matmul == steps * batch * gates * hidden * (width + hidden)


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return 2 * x * grad


def test_custom_autograd_function_is_counted_through_its_ops() -> None:
    class Model(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return Square.apply(x)

    analysis = costlens.analyze(Model(), torch.randn(3, 4))
    assert [op.op for op in analysis.ops] == ["aten.mul.Tensor"] and analysis.totals.flops == 12


_LIBRARY = torch.library.Library("costlens_test", "DEF")
_LIBRARY.define("doubled(Tensor x) -> Tensor")
_LIBRARY.impl("doubled", lambda x: x * 2, "CompositeImplicitAutograd")


@torch.library.custom_op("costlens_test::opaque", mutates_args=())
def opaque(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@opaque.register_fake
def _opaque_shape(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


@torch.library.custom_op("costlens_test::cpu_only", mutates_args=())
def cpu_only(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


class CustomOps(nn.Module):
    def __init__(self, op) -> None:
        super().__init__()
        self.inner = nn.Linear(4, 4)
        self.op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(self.inner(x))


def test_a_decomposable_custom_op_is_counted() -> None:
    analysis = costlens.analyze(CustomOps(torch.ops.costlens_test.doubled), torch.randn(2, 4))
    assert "aten.mul.Tensor" in [op.op for op in analysis.ops]
    assert analysis.unsupported_ops == ()


@pytest.mark.parametrize("op, name, device", [(opaque, "opaque", "meta"),
                                               (cpu_only, "cpu_only", "cpu")])
def test_an_opaque_custom_op_is_listed_with_its_module(op, name: str, device: str) -> None:
    analysis = costlens.analyze(CustomOps(op), torch.randn(2, 4))
    assert analysis.graph.device == device  # no meta kernel: run for real, and say so
    (unsupported,) = analysis.unsupported_ops
    assert unsupported.op == f"costlens_test.{name}.default"
    assert unsupported.modules == ("",)
