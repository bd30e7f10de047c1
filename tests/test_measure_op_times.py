"""Real per-op timing, and how it lines up with the analysed ops."""
from __future__ import annotations

import pytest
import torch
from helpers import made_up_profile
from torch import nn

import costlens
from costlens.latency.estimate import estimate
from costlens.measure.compare import GROUP_ORDER, compare
from costlens.measure.device import CPU
from costlens.measure.op_times import measure
from costlens.tracing.inputs import Inputs


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn(self.conv(x)))
        return self.head(y.mean((2, 3)))


def test_every_op_is_timed_in_its_module_and_the_model_is_left_alone() -> None:
    model = Small().eval()
    x = torch.randn(1, 4, 8, 8)
    before = model(x)
    timed = measure(model, Inputs((x,)), CPU(), repeat=3)
    assert {op.module for op in timed.ops} == {"", "conv", "bn", "head"}
    assert all(op.seconds > 0 for op in timed.ops) and 0 < timed.best <= timed.seconds
    by_module = timed.by_module()
    assert by_module[""] == pytest.approx(sum(op.seconds for op in timed.ops))
    assert by_module["conv"] == pytest.approx(sum(op.seconds for op in timed.ops
                                                  if op.module == "conv"))
    assert not model._forward_hooks and not model.conv._forward_pre_hooks
    assert torch.equal(model(x), before)


def test_comparison_lines_the_real_ops_up_with_the_analysed_ones() -> None:
    model = Small().eval()
    x = torch.randn(1, 4, 8, 8)
    analysis = costlens.analyze(model, x)
    latency = estimate(analysis, made_up_profile())
    result = compare(analysis, latency, measure(model, Inputs((x,)), CPU(), 2),
                     depth=1)
    assert [row.name for row in result.layers] == ["conv", "bn", "head", "(Small.forward)"]
    assert [row.name for row in result.groups] == list(GROUP_ORDER)
    assert sum(row.measured for row in result.groups) == pytest.approx(result.measured_total)
    assert sum(row.flops for row in result.classes) == analysis.totals.flops
    classes = {row.name for row in result.classes}
    assert {"conv_dense", "normalization", "elementwise", "matmul"} <= classes


def test_a_training_step_is_timed_per_module_and_leaves_the_model_as_it_was() -> None:
    """Backward ops are charged to the module whose forward made them, optimizer ops to the
    module owning the parameter; the weights (learning rate 0), the batch norm's running
    statistics and the eval mode are as before."""
    from costlens.tracing.step import TrainStep

    model = Small().eval()
    x = torch.randn(2, 4, 8, 8)
    state = {name: value.clone() for name, value in model.state_dict().items()}
    timed = measure(model, Inputs((x,)), CPU(), repeat=2, step=TrainStep(optimizer="adam"),
                    modules={"conv"})
    assert timed.modules == {}  # hooks see no backward: a step's layers are its ops' sums
    where = {(op.module, op.op) for op in timed.ops}
    assert ("conv", "aten.convolution_backward.default") in where
    assert ("bn", "aten.native_batch_norm_backward.default") in where
    assert ("", "aten.threshold_backward.default") in where  # the functional relu's
    assert ("head", "aten.mm.default") in where
    assert ("head", "aten.addcdiv_.default") in where
    assert not model.training
    for name, value in model.state_dict().items():
        assert torch.equal(value, state[name]), name


class Stacked(nn.Module):
    """A stem, blocks in a ModuleList (a container never called), and a functional op of the
    model's own."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(4, 8, 3, padding=1)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
                                    for _ in range(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stem(x)
        for block in self.blocks:
            y = block(y)
        return torch.sigmoid(y)


def test_the_modules_timed_for_layer_rows_reach_through_containers_never_called() -> None:
    from costlens.measure.compare import timed_modules

    analysis = costlens.analyze(Stacked(), torch.randn(1, 4, 8, 8))
    assert timed_modules(analysis, 1) == {"", "stem", "blocks.0", "blocks.1"}
    assert timed_modules(analysis, 2) == {"", "stem", "blocks.0", "blocks.1"}
    assert timed_modules(analysis, 3) == {"", "stem", "blocks.0", "blocks.1", "blocks.0.0",
                                          "blocks.0.1", "blocks.1.0", "blocks.1.1"}


def test_layer_rows_come_from_forwards_timed_per_module() -> None:
    """A container's row is its called modules' times, the model's own row its time less
    theirs; the rows' shares are of the forwards timed per module, not of the per-op run."""
    from costlens.measure.compare import timed_modules

    model = Stacked().eval()
    x = torch.randn(1, 4, 8, 8)
    analysis = costlens.analyze(model, x)
    timed = measure(model, Inputs((x,)), CPU(), repeat=3, modules=timed_modules(analysis, 1))
    assert set(timed.modules) == {"", "stem", "blocks.0", "blocks.1"}
    assert all(seconds > 0 for seconds in timed.modules.values())
    assert not model._forward_pre_hooks and not model.blocks[0]._forward_hooks
    result = compare(analysis, estimate(analysis, made_up_profile()), timed, depth=1)
    rows = {row.name: row.measured for row in result.layers}
    assert list(rows) == ["stem", "blocks", "(Stacked.forward)"]
    assert rows["stem"] == timed.modules["stem"]
    assert rows["blocks"] == pytest.approx(timed.modules["blocks.0"] + timed.modules["blocks.1"])
    assert rows["(Stacked.forward)"] == pytest.approx(
        timed.modules[""] - rows["stem"] - rows["blocks"])
    assert result.layers_total == timed.modules[""] != result.measured_total
    assert result.layers_per_module


def test_without_module_times_a_layer_is_the_sum_of_its_ops() -> None:
    model = Stacked().eval()
    x = torch.randn(1, 4, 8, 8)
    analysis = costlens.analyze(model, x)
    timed = measure(model, Inputs((x,)), CPU(), repeat=2)
    assert timed.modules == {}
    result = compare(analysis, estimate(analysis, made_up_profile()), timed, depth=1)
    by_module = timed.by_module()
    rows = {row.name: row.measured for row in result.layers}
    assert rows["blocks"] == pytest.approx(by_module["blocks"])
    assert result.layers_total == result.measured_total and not result.layers_per_module
