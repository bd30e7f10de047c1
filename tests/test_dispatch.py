"""latency/dispatch.py against what torch really runs: the kernel its profiler records."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.profiler import profile

import costlens
from costlens.latency.classes import KernelClass, kernel_class, shape_features
from costlens.latency.dispatch import runs_onednn
from costlens.measure.timing import threads

LAYERS = {
    "1x1, small input": (lambda: nn.Conv2d(64, 384, 1, bias=False), (1, 64, 14, 14)),
    "1x1, large input": (lambda: nn.Conv2d(24, 24, 1, bias=False), (1, 24, 56, 56)),
    "1x1, batch 2": (lambda: nn.Conv2d(16, 16, 1, bias=False), (2, 16, 8, 8)),
    "1x1 strided": (lambda: nn.Conv2d(64, 128, 1, 2, bias=False), (1, 64, 14, 14)),
    "3x3, small input": (lambda: nn.Conv2d(128, 32, 3, 1, 1, bias=False), (1, 128, 7, 7)),
    "3x3, large input": (lambda: nn.Conv2d(128, 32, 3, 1, 1, bias=False), (1, 128, 28, 28)),
    "5x5, small input": (lambda: nn.Conv2d(8, 8, 5, 1, 2, bias=False), (1, 8, 8, 8)),
    "depthwise": (lambda: nn.Conv2d(8, 8, 3, 1, 1, groups=8, bias=False), (1, 8, 4, 4)),
    "1-d": (lambda: nn.Conv1d(64, 64, 3, 1, 1, bias=False), (1, 64, 400)),
    "transposed, small input": (lambda: nn.ConvTranspose2d(32, 16, 2, 2, bias=False),
                                (1, 32, 4, 4)),
    "transposed, large input": (lambda: nn.ConvTranspose2d(32, 16, 2, 2, bias=False),
                                (1, 32, 28, 28)),
}


NATIVE = frozenset({"aten::thnn_conv2d", "aten::_slow_conv2d_forward",
                    "aten::slow_conv_transpose2d", "aten::slow_conv_dilated2d"})


def _ran_onednn(layer: nn.Module, example: torch.Tensor) -> bool:
    """Whether torch ran none of its native kernels (a transposed conv through oneDNN records
    no event of its own)."""
    with torch.no_grad(), profile() as trace:
        layer(example)
    names = {event.name for event in trace.events()}
    assert "aten::convolution" in names
    return not names & NATIVE


@pytest.mark.parametrize("count", [1, 2])
@pytest.mark.parametrize("name", LAYERS)
def test_the_kernel_named_is_the_one_torch_runs(name: str, count: int) -> None:
    make, shape = LAYERS[name]
    layer, example = make(), torch.randn(*shape)
    analysis = costlens.analyze(layer, example)
    node = next(node for node in analysis.graph.nodes if node.packet == "aten.convolution")
    with threads(count):
        assert runs_onednn(node, count) == _ran_onednn(layer, example)


def test_a_1x1_conv_changes_kernel_with_the_thread_count() -> None:
    """The case the feature exists for: the same layer, two kernels."""
    analysis = costlens.analyze(nn.Conv2d(24, 24, 1, bias=False), torch.randn(1, 24, 56, 56))
    node, op = analysis.graph.nodes[0], analysis.ops[0]
    assert not runs_onednn(node, 1) and runs_onednn(node, 2)
    one, two = (shape_features(node, kernel_class(node, op.category), op.flops, op.parallelism,
                               count) for count in (1, 2))
    assert one[:-1] == two[:-1] and (one[-1], two[-1]) == (0.0, 1.0)
    # off a CPU there is no such choice, and no such feature
    assert len(shape_features(node, KernelClass.CONV_1X1, op.flops, op.parallelism)) == \
        len(one) - 1
