"""A training step on meta: forward, loss, backward and the optimizer's update, each op with its
phase and charged to the module whose forward it serves; its convolution, matmul and attention
FLOPs checked against torch's FlopCounterMode on a real forward and backward."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch
from helpers import example
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import costlens
from costlens.cli import main
from costlens.costs import Category
from costlens.costs.backward import attention_backward_products

DENSE = (Category.CONV, Category.DEPTHWISE, Category.MATMUL)


def _dense_flops(analysis: costlens.Analysis, phase: str) -> int:
    """Multiply-adds of the convolutions and matrix products of a phase, attention's products
    included (what FlopCounterMode counts)."""
    total = 0
    for op in analysis.ops:
        if op.phase != phase:
            continue
        if op.category in DENSE:
            total += op.flops
        elif op.category is Category.ATTENTION:
            node = analysis.graph.nodes[op.index]
            query, key, value = node.arg("query"), node.arg("key"), node.arg("value")
            queries = query.numel // query.shape[-1]
            products = queries * key.shape[-2] * (query.shape[-1] + value.shape[-1])
            total += products if phase == "forward" else attention_backward_products(
                queries, key.shape[-2], query.shape[-1], value.shape[-1])
    return total


def _real_flops(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[float, float]:
    """FlopCounterMode's forward and backward FLOPs halved (it counts 2 per multiply-add), on
    real tensors in training mode, attention run as its math so that it counts it."""
    if any(p.is_meta for p in model.parameters()):
        model = model.to_empty(device="cpu")
    model.train()
    real = tuple(torch.randn(t.shape) if t.dtype.is_floating_point
                 else torch.randint(0, 10, t.shape) for t in inputs)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        output = model(*real)
        forward = counter.get_total_flops()
        outputs = output if isinstance(output, tuple) else (output,)
        sum(t.sum() for t in outputs if t.dtype.is_floating_point).backward()
    return forward / 2, (counter.get_total_flops() - forward) / 2


@pytest.mark.parametrize("name, factory, arguments", [
    ("resnet", "resnet50", {}), ("inception", "inception_net", {}), ("gpt", "gpt", {}),
    ("llama", "llama", {"size": "tiny"}),
])
def test_dense_backward_flops_equal_flop_counter_mode(name: str, factory: str,
                                                      arguments: dict) -> None:
    model, inputs = getattr(example(name), factory)(**arguments)[:2]
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    analysis = costlens.analyze(model, inputs, train_step=True)
    forward, backward = _real_flops(model, inputs)
    assert _dense_flops(analysis, "forward") == pytest.approx(forward, rel=2e-3)
    assert _dense_flops(analysis, "backward") == pytest.approx(backward, rel=2e-3)


def test_a_grouped_convolution_backward_is_twice_its_forward() -> None:
    """Input and weight gradients each take the forward's multiply-adds, groups or not.
    (FlopCounterMode's convolution_backward formula leaves the groups out and counts a
    depthwise 3x3 on 32 channels 32 times over, so it is no reference here.)"""
    model = nn.Sequential(nn.Conv2d(8, 32, 1), nn.Conv2d(32, 32, 3, padding=1, groups=32))
    analysis = costlens.analyze(model, torch.randn(2, 8, 16, 16), train_step=True)
    forward = {op.module: op.flops for op in analysis.ops
               if op.phase == "forward" and op.op == "aten.convolution.default"}
    backward = {op.module: op.flops for op in analysis.ops
                if op.op == "aten.convolution_backward.default"}
    assert forward["1"] == 2 * 16 * 16 * 32 * 9
    assert backward["1"] == 2 * forward["1"]
    # the first layer's input gets no gradient: only its weight's is computed
    assert backward["0"] == forward["0"]


def test_each_backward_op_is_charged_to_the_module_it_differentiates() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 6 * 6, 10))
    analysis = costlens.analyze(model, torch.randn(2, 3, 8, 8), train_step=True)
    where = {op.op: op.module for op in analysis.ops if op.phase == "backward"}
    assert where["aten.convolution_backward.default"] == "0"
    assert where["aten.native_batch_norm_backward.default"] == "1"
    assert where["aten.threshold_backward.default"] == "2"
    assert where["aten.mm.default"] == "4"
    assert analysis.graph.training and analysis.graph.step == "backward"
    for layer in analysis.layers:  # the phases add up to the row
        assert sum(p.flops for p in layer.phases) == layer.flops
        assert sum(p.mac_bytes for p in layer.phases) == layer.mac_bytes


@pytest.mark.parametrize("optimizer, least, most", [("sgd", 6, 10), ("adam", 10, 24),
                                                    ("adamw", 10, 24)])
def test_the_optimizer_updates_every_parameter(optimizer: str, least: int,
                                               most: int) -> None:
    """Its element-wise ops read and write each parameter, its gradient and its state: SGD
    with momentum moves 8 tensors' worth per parameter (momentum scaled, gradient added, step
    taken), Adam more."""
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    analysis = costlens.analyze(model, torch.randn(4, 64), optimizer=optimizer)
    assert analysis.graph.step == optimizer
    update = [op for op in analysis.ops if op.phase == "optimizer"]
    assert {op.module for op in update} == {"0", "2"}
    param_bytes = 4 * analysis.totals.params
    moved = sum(op.mac_bytes for op in update)
    assert least * param_bytes <= moved <= most * param_bytes, moved / param_bytes
    assert dict(Counter(p.phase for p in analysis.totals.phases)) == {
        "forward": 1, "backward": 1, "optimizer": 1}


def test_fused_attention_backward_is_one_kernel() -> None:
    """Attention's backward is a fused kernel as its forward is: no score matrix is written."""
    model, tokens = example("gpt").gpt()[:2]
    analysis = costlens.analyze(model, tokens, train_step=True)
    backward = [op for op in analysis.ops if op.phase == "backward"]
    fused = [op for op in backward if op.category is Category.ATTENTION]
    layers = sum(1 for op in analysis.ops if op.category is Category.ATTENTION
                 and op.phase == "forward")
    assert len(fused) == layers > 0
    assert not any(op.op == "aten._softmax_backward_data.default" for op in backward)


def test_the_factory_may_supply_the_loss(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "net.py").write_text(
        "import torch\nfrom torch import nn\n\n"
        "def build():\n"
        "    labels = torch.zeros(4, dtype=torch.long, device='meta')\n"
        "    loss = lambda logits: nn.functional.cross_entropy(logits, labels)\n"
        "    return nn.Linear(16, 10), torch.randn(4, 16), loss\n")
    assert main(["report", f"{tmp_path}/net.py:build", "--train-step", "--format",
                 "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    ops = {op["op"] for op in report["ops"] if op["phase"] == "forward"}
    assert "aten._log_softmax.default" in ops and "aten.nll_loss_forward.default" in ops
    assert report["trace"] == {"device": "meta", "training": True, "step": "backward",
                               "notes": []}


def test_the_table_shows_each_phase_and_the_options_are_checked(
        capsys: pytest.CaptureFixture[str]) -> None:
    target = "costlens.examples.shufflenet_v2:shufflenet_v2"
    assert main(["report", target, "--train-step", "--optimizer", "adam", "--depth", "1",
                 "--platform", "epyc-cpu-1t"]) == 0
    out = capsys.readouterr().out
    assert "(a training step: forward, loss, backward, adam update; train mode" in out
    assert "fwd FLOPs" in out and "bwd FLOPs" in out and "opt FLOPs" in out
    assert "calibration times no backward kernels" in out.replace("\n", " ")
    assert main(["report", target, "--optimizer", "sgd"]) == 2
    assert "give --train-step too" in capsys.readouterr().err


def test_guidelines_judge_the_forward_and_budgets_the_whole_step(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Linting a step finds the forward's causes, no more; a FLOPs budget between the
    forward's FLOPs and the step's fails the step only."""
    target = "costlens.examples.mobilenet_v2:mobilenet_v2"
    model, inputs = example("mobilenet_v2").mobilenet_v2()
    forward = costlens.analyze(model, inputs).totals.flops
    budget = f"{2 * forward}"
    assert main(["lint", target, "--format", "json", "--budget", f"flops={budget}"]) == 1
    alone = json.loads(capsys.readouterr().out)["diagnostics"]
    assert main(["lint", target, "--format", "json", "--budget", f"flops={budget}",
                 "--train-step"]) == 1
    step = json.loads(capsys.readouterr().out)["diagnostics"]
    assert [d["code"] for d in alone if d["code"] != "B1"] == \
        [d["code"] for d in step if d["code"] != "B1"]
    assert "B1" not in {d["code"] for d in alone} and "B1" in {d["code"] for d in step}


def test_a_fused_attention_backward_keeps_its_arguments_however_they_are_passed() -> None:
    """Query, key and value one tensor, the causal flag passed by position: still named by
    the schema, and the backward costed as causal."""

    class SelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.project = nn.Linear(16, 16)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.project(x).view(1, 2, 8, 16)
            return nn.functional.scaled_dot_product_attention(y, y, y, None, 0.0, True)

    analysis = costlens.analyze(SelfAttention(), torch.randn(16, 16), train_step=True)
    (op,) = [op for op in analysis.ops
             if op.phase == "backward" and op.category is Category.ATTENTION]
    node = analysis.graph.nodes[op.index]
    assert [item.arg for item in node.inputs] == ["grad_out", "query", "key", "value", "out"]
    assert node.attr("is_causal") is True


def test_a_model_with_nothing_to_train_is_refused_in_one_line() -> None:
    frozen = nn.Linear(4, 4).requires_grad_(False)
    with pytest.raises(costlens.CostlensError, match="they are all frozen"):
        costlens.analyze(frozen, torch.randn(2, 4), train_step=True)
    assert all(p.requires_grad is False for p in frozen.parameters())


def test_pooling_gradients_spread_back_over_the_window() -> None:
    """An average pool's gradient adds each output's gradient to every input of its window: the
    forward's taps (3x3 here); a max pool's only to the input that won."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AvgPool2d(3, stride=1, padding=1),
                          nn.MaxPool2d(2))
    analysis = costlens.analyze(model, torch.randn(1, 3, 8, 8), train_step=True)
    flops = {op.op: op.flops for op in analysis.ops if op.phase == "backward"}
    assert flops["aten.avg_pool2d_backward.default"] == 4 * 8 * 8 * 9
    assert flops["aten.max_pool2d_with_indices_backward.default"] == 4 * 4 * 4
