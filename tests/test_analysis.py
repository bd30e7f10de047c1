"""Per-layer roll-up and block figures: fragments, branches, kernels, element-wise share."""
from __future__ import annotations

import torch
from helpers import example
from torch import nn

import costlens

paper = example("paper_benchmarks")


def test_a_layer_includes_its_descendants_and_totals_are_the_root() -> None:
    analysis = costlens.analyze(*example("resnet").resnet50())
    layer1 = analysis.layer("layer1")
    children = [layer for layer in analysis.layers
                if layer.name.startswith("layer1.") and layer.depth == 2]
    assert len(children) == 3
    assert layer1.flops == sum(child.flops for child in children)
    assert layer1.mac == sum(child.mac for child in children)
    assert analysis.layer("").flops == analysis.totals.flops
    assert sum(op.flops for op in analysis.ops if op.supported) == analysis.totals.flops
    model, _ = example("resnet").resnet50()
    assert layer1.params == sum(p.numel() for p in model.layer1.parameters())


def test_layers_are_in_execution_order_with_depth_and_type() -> None:
    analysis = costlens.analyze(*example("shufflenet_v2").shufflenet_v2())
    names = [layer.name for layer in analysis.layers if layer.depth == 1]
    # the global pool the model's own forward runs comes last, in a row of its own
    assert names == ["conv1", "maxpool", "stage2", "stage3", "stage4", "conv5", "fc",
                     "(ShuffleNetV2.forward)"]
    unit = analysis.layer("stage2.0")
    assert (unit.type, unit.depth, unit.calls) == ("InvertedResidual", 2, 1)
    # each unit's concat and shuffle: after the unit's children, one level below the unit
    depth3 = [layer.name for layer in analysis.layers
              if layer.depth == 3 and layer.name.startswith("stage2.0.")]
    assert depth3 == ["stage2.0.branch1", "stage2.0.branch2",
                      "stage2.0.(InvertedResidual.forward)"]
    own = analysis.layer("stage2.0.(InvertedResidual.forward)")
    assert (own.forward_of, own.type, own.calls, own.params) == ("stage2.0", "InvertedResidual",
                                                                 1, 0)


def test_the_rows_under_every_module_add_up_to_it() -> None:
    """A GPT block's children and its own row (two residual adds) add up to the block."""
    for model, inputs in (example("gpt").gpt(), example("shufflenet_v2").shufflenet_v2(),
                          example("resnet").resnet50()):
        analysis = costlens.analyze(model, inputs)
        checked = 0
        for parent in analysis.layers:
            if parent.forward_of is not None:
                continue
            prefix = f"{parent.name}." if parent.name else ""
            children = [layer for layer in analysis.layers if layer.depth == parent.depth + 1
                        and layer.name.startswith(prefix)]
            if not children:
                continue
            checked += 1
            for figure in ("flops", "mac", "mac_bytes", "params"):
                assert sum(getattr(child, figure) for child in children) == \
                    getattr(parent, figure), (parent.name, figure)
        assert checked >= 10


def test_a_module_running_only_its_children_has_no_own_row() -> None:
    analysis = costlens.analyze(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), torch.randn(2, 4))
    assert [layer.name for layer in analysis.layers] == ["", "0", "1"]


def test_fragments_and_branches_of_the_g3_blocks() -> None:
    for fragments, parallel, branches in [(1, False, 1), (4, False, 1), (2, True, 2),
                                          (4, True, 4)]:
        model, x = paper.g3_network(fragments=fragments, parallel=parallel)
        block = costlens.analyze(model, x).layer("0").block
        assert (block.fragments, block.branches) == (fragments, branches)
        # parallel branches are summed by fragments - 1 adds
        assert block.kernels == fragments + (fragments - 1 if parallel else 0)


def test_inception_block_has_four_branches() -> None:
    analysis = costlens.analyze(*example("inception").inception_net())
    blocks = [layer for layer in analysis.layers
              if layer.type == "InceptionBlock" and layer.forward_of is None]
    assert blocks and all(layer.block.branches == 4 for layer in blocks)
    assert all(layer.block.fragments == 8 for layer in blocks)  # 1 + 2 + 3 + 1 convs, 1 pool


def test_elementwise_share_falls_as_relu_and_shortcut_go() -> None:
    shares = []
    for relu, shortcut in [(True, True), (True, False), (False, True), (False, False)]:
        model, x = paper.g4_network(relu=relu, shortcut=shortcut)
        shares.append(costlens.analyze(model, x).layer("0").block.elementwise_mac_share)
    assert shares[0] > shares[1] > shares[3] == 0.0
    assert shares[0] > shares[2] > shares[3]


def test_container_that_is_never_called_rolls_up_its_children() -> None:
    class Stack(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList(nn.Linear(4, 4) for _ in range(3))
            self.unused = nn.Linear(4, 100)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for layer in self.layers:
                x = layer(x)
            return x

    analysis = costlens.analyze(Stack(), torch.randn(2, 4))
    container = analysis.layer("layers")
    assert (container.calls, container.flops) == (0, 3 * 2 * 4 * 4)
    assert container.block.kernels == 3
    assert analysis.uncalled_modules == ("unused",)
    assert analysis.totals.params == 3 * 20 + 4 * 100 + 100


def test_intensity_and_parallelism() -> None:
    analysis = costlens.analyze(nn.Conv2d(8, 8, 1, bias=False), torch.randn(1, 8, 4, 4))
    layer = analysis.layer("")
    assert layer.intensity == round(8 * 8 * 16 / (4 * (128 + 64 + 128)), 6)
    assert layer.parallelism == 8 * 16 == analysis.totals.parallelism


def test_a_shared_module_is_counted_in_its_own_row_only() -> None:
    class Block(nn.Module):
        def __init__(self, act: nn.Module) -> None:
            super().__init__()
            self.proj = nn.Linear(8, 8)
            self.act = act

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.proj(x))

    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.act = nn.GELU()
            self.block = Block(self.act)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.block(x))

    analysis = costlens.analyze(Shared(), torch.randn(4, 8))
    top = [layer for layer in analysis.layers if layer.depth == 1]
    assert sum(layer.flops for layer in top) == analysis.totals.flops
    assert analysis.layer("act").calls == 2 and analysis.layer("act").flops == 2 * 32
    assert analysis.layer("block").flops == 4 * 8 * 8


def test_an_op_costed_through_its_decomposition_is_one_kernel() -> None:
    class Warp(nn.Module):
        def forward(self, x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.grid_sample(x, grid, align_corners=False)

    analysis = costlens.analyze(Warp(), (torch.randn(1, 2, 8, 8), torch.rand(1, 4, 4, 2)))
    (op,) = [op for op in analysis.ops if op.category != "view"]
    assert op.op.startswith("aten.grid_sampler_2d")
    assert analysis.totals.kernels == 1 and op.flops > 0
    assert op.mac == 128 + 32 + 32  # input, grid, output: one fused kernel
