"""Properties over random stacks of convolution, linear and element-wise layers of random
shapes (hypothesis): analysis never fails, 1x1 convolutions never beat the paper's MAC bound,
the top-level rows add up to the totals, the meta device and real tensors agree on FLOPs, and
the lint pipeline runs to completion."""
from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import costlens
from costlens.costs import Category

ACTIVATIONS = (nn.ReLU, nn.GELU, nn.Sigmoid, nn.Hardswish, nn.SiLU, nn.Tanh)
PROPERTY_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                             suppress_health_check=[HealthCheck.too_slow])


@st.composite
def stacks(draw, pointwise: bool = False) -> tuple[nn.Module, torch.Tensor]:
    """An nn.Sequential and a random image batch it can run on; with `pointwise`, one that
    holds a dense 1x1 convolution at least."""
    batch, channels = draw(st.integers(1, 2)), draw(st.integers(1, 12))
    size = draw(st.integers(2, 12))
    inputs = torch.randn(batch, channels, size, size)
    layers: list[nn.Module] = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["conv", "pointwise", "activation", "norm", "pool"]))
        if kind in ("conv", "pointwise"):
            out = draw(st.integers(1, 16))
            kernel = 1 if kind == "pointwise" else draw(st.sampled_from([1, 3]))
            stride = draw(st.sampled_from([1, 2])) if kind == "conv" and size >= 4 else 1
            shared = [g for g in range(1, math.gcd(channels, out) + 1)
                      if channels % g == 0 and out % g == 0]
            groups = 1 if kind == "pointwise" else draw(st.sampled_from(shared))
            layers.append(nn.Conv2d(channels, out, kernel, stride=stride, padding=kernel // 2,
                                    groups=groups, bias=draw(st.booleans())))
            channels, size = out, (size - 1) // stride + 1
        elif kind == "activation":
            layers.append(draw(st.sampled_from(ACTIVATIONS))())
        elif kind == "norm":
            layers.append(nn.BatchNorm2d(channels))
        elif size >= 2:
            layers.append(nn.MaxPool2d(2))
            size //= 2
    if pointwise:
        layers.append(nn.Conv2d(channels, draw(st.integers(1, 16)), 1, bias=draw(st.booleans())))
        channels = layers[-1].out_channels
    if draw(st.booleans()):
        layers += [nn.Flatten(), nn.Linear(channels * size * size, draw(st.integers(1, 10)))]
    return nn.Sequential(*layers).eval(), inputs


@PROPERTY_SETTINGS
@given(stacks())
def test_random_stacks_analyze_and_add_up(stack) -> None:
    model, inputs = stack
    analysis = costlens.analyze(model, inputs)
    assert analysis.unsupported_ops == ()
    top = [layer for layer in analysis.layers if layer.depth == 1]
    for figure in ("flops", "mac", "mac_bytes"):
        assert sum(getattr(layer, figure) for layer in top) == getattr(analysis.totals, figure)
    assert analysis.totals.params == sum(p.numel() for p in model.parameters())


@PROPERTY_SETTINGS
@given(stacks(pointwise=True))
def test_no_pointwise_conv_beats_the_g1_bound(stack) -> None:
    model, inputs = stack
    analysis = costlens.analyze(model, inputs)
    pointwise = [op for op in analysis.ops if op.category is Category.CONV and (
        node := analysis.graph.nodes[op.index]).arg("weight").shape[2:] == (1, 1)
        and node.attr("groups") == 1 and node.attr("stride") == (1, 1)]
    assert pointwise  # the strategy put one in
    for op in pointwise:
        node = analysis.graph.nodes[op.index]
        weight = node.arg("weight")
        c1, c2 = weight.shape[1], weight.shape[0]
        positions = node.outputs[0].numel // c2
        bias = c2 if node.arg("bias") is not None else 0
        flops = positions * c1 * c2
        assert op.flops == flops
        bound = 2 * math.sqrt(positions * flops) + flops / positions
        assert op.mac - bias >= bound * (1 - 1e-12)


@PROPERTY_SETTINGS
@given(stacks())
def test_meta_and_real_tensors_agree_on_flops(stack) -> None:
    model, inputs = stack
    meta = costlens.analyze(model, inputs)
    real = costlens.analyze(model, inputs, real=True)
    assert (meta.graph.device, real.graph.device) == ("meta", "cpu")
    assert meta.totals.flops == real.totals.flops


@PROPERTY_SETTINGS
@given(stacks())
def test_the_lint_pipeline_completes(stack) -> None:
    model, inputs = stack
    found = costlens.lint(model, inputs, budgets={"flops": "1K"})
    over = costlens.analyze(model, inputs).totals.flops > 1000
    assert [d.code for d in found if d.code == "B1"] == (["B1"] if over else [])
    assert all(d.location.line >= 1 and d.message for d in found)
