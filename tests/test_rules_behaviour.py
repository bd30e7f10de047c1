"""The rules on the cases that trip naive versions: strided and linear pointwise layers,
output heads, blocks called differently each time, norms and transformer blocks, empty and
zero budgets."""
from __future__ import annotations

import torch
from torch import nn

import costlens


def _lint(model: nn.Module, inputs, code: str, view: str | None = None, **options):
    return costlens.lint(model, inputs, select=[code], options={code: options} if options else None,
                         view=view)


class Pointwise(nn.Module):
    """Two pointwise layers and a head, so neither layer makes the output itself."""

    def __init__(self, first: nn.Module, second: nn.Module) -> None:
        super().__init__()
        self.first, self.second, self.head = first, second, nn.Conv2d(16, 16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.second(self.first(x)))


def test_g1_counts_a_strided_1x1_conv_at_the_positions_it_samples() -> None:
    strided = Pointwise(nn.Conv2d(128, 64, 1, stride=2), nn.Conv2d(64, 16, 1))
    dense = Pointwise(nn.Conv2d(128, 64, 1), nn.Conv2d(64, 16, 1))
    # the same 28x28 output positions: from a 56x56 map by stride 2, or from a 28x28 map
    ratios = [[d.figures["ratio"] for d in _lint(model, torch.randn(1, 128, size, size), "G1",
                                                  max_mac_ratio=1.0) if d.module == "first"]
              for model, size in ((strided, 56), (dense, 28))]
    assert ratios[0] and ratios[0] == ratios[1]  # 2:1 widths: about 1.06x, strided or not
    assert not [d for d in _lint(strided, torch.randn(1, 128, 56, 56), "G1")
                if d.module == "first"]


def test_g1_treats_a_linear_layer_as_a_pointwise_conv() -> None:
    class ChannelsLast(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.up, self.down = nn.Linear(24, 288), nn.Linear(288, 24)
            self.head = nn.Linear(24, 24)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.down(self.up(x)))

    found = _lint(ChannelsLast(), torch.randn(1, 56, 56, 24), "G1")
    messages = {d.module: d.message for d in found}
    assert set(messages) == {"up", "down"}
    assert messages["up"].startswith("linear layer 24->288 (1:12) has MAC")


def test_g1_leaves_the_output_head_alone() -> None:
    model = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.Conv2d(64, 2, 1))
    assert _lint(model, torch.randn(1, 3, 64, 64), "G1") == []


def test_g2_says_what_the_dense_equivalent_saves() -> None:
    model = nn.Sequential(nn.Conv2d(128, 128, 3, padding=1, groups=32), nn.ReLU())
    (finding,) = _lint(model, torch.randn(1, 128, 56, 56), "G2")
    assert "dense conv of equal FLOPs (128->4) (limit 1.5x), which would move" in finding.message
    assert finding.figures["mac"] > finding.figures["dense_mac"]


class Gated(nn.Module):
    """A block that adds its shortcut on one call and not on the other."""

    def __init__(self) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(32, 8, 1, bias=False)
        self.expand = nn.Conv2d(8, 32, 1, bias=False)

    def forward(self, x: torch.Tensor, shortcut: bool) -> torch.Tensor:
        y = torch.relu(self.expand(self.reduce(x)))
        return y + x if shortcut else y


class TwoCalls(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gates = nn.ModuleList(Gated() for _ in range(2))  # one class, one line

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second = self.gates
        x = first(x, True)
        return second(second(x, False), True)


def test_g4_reports_the_heaviest_call_of_a_block() -> None:
    # the two gates: one class built at one line, so one cause with two instances
    (found,) = _lint(TwoCalls(), torch.randn(1, 32, 28, 28), "G4", view="eager",
                     max_share=0.0)
    assert [instance.module for instance in found.instances] == ["gates.0", "gates.1"]
    assert found.module == "gates.1"  # two calls over the limit: the costlier instance
    assert "relu x1" in found.message and "add x1" in found.message
    assert "in its heaviest call" in found.message
    first, second = (instance.figures()["share"] for instance in found.instances)
    assert first == second


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm, self.fc, self.out = nn.LayerNorm(64), nn.Linear(64, 64), nn.Linear(64, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.out(self.fc(self.norm(x))) * 0.5


def test_g4_names_norms_and_scales_with_their_own_remedies() -> None:
    model = nn.Sequential(Encoder(), Encoder())
    (found,) = _lint(model, torch.randn(1, 256, 64), "G4", max_share=0.0)
    assert len(found.instances) == 2
    assert "layer_norm x1" in found.message and "mul x1" in found.message
    assert "drop normalizations the block does not need" in found.message
    assert "fold constant scales into the weights" in found.message
    assert "drop activations" not in found.message


class Gate(nn.Module):
    """Squeeze-excitation: a per-channel gate computed from the map, multiplied into it."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.reduce, self.expand = nn.Conv2d(channels, 8, 1), nn.Conv2d(8, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.expand(torch.relu(self.reduce(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(scale)


class GatedBlock(nn.Module):
    """A depthwise conv, a gate inside and a shortcut: both the gate alone and the block
    without it break a low limit."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.gate = Gate(channels)
        self.project = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project(self.gate(self.depthwise(x)))


def test_g4_reports_a_nest_of_flagged_blocks_once_on_the_block_around_them() -> None:
    model = nn.Sequential(GatedBlock(32), GatedBlock(32))
    inputs = torch.randn(1, 32, 28, 28)
    (found,) = _lint(model, inputs, "G4", max_share=0.3)
    assert found.module.count(".") == 0 and len(found.instances) == 2  # the blocks, not gates
    assert "gate x1" in found.message and "depthwise conv x1" in found.message
    assert "add x1" in found.message
    # the gate is computed from the data: no advice to fold it into the weights
    assert "fold constant scales" not in found.message
    assert "gate fewer or thinner maps" in found.message
    # everything the gates and the blocks would each have saved, once
    alone = {d.module: d for d in _lint(nn.Sequential(Gate(32), Gate(32)), inputs, "G4",
                                        max_share=0.3)}
    assert alone and found.saving.mac_bytes > max(d.saving.mac_bytes for d in alone.values())


def test_g3_suggests_fusing_matrix_products_in_a_transformer_block() -> None:
    class Parallel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q, self.k, self.v, self.up = (nn.Linear(64, 64) for _ in range(4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.q(x) + self.k(x) + self.v(x) + self.up(x)

    found = _lint(nn.Sequential(Parallel(), Parallel()), torch.randn(1, 16, 64), "G3")
    assert found and "fuse the parallel matrix products" in found[0].message
    assert "convolutions" not in found[0].message


def test_zero_budgets_and_empty_batches_do_not_crash() -> None:
    conv = nn.Conv2d(8, 64, 1)
    (over,) = costlens.lint(conv, torch.randn(1, 8, 4, 4), select=["B1"], budgets={"flops": 0})
    assert over.message.endswith("over its budget of 0")
    assert costlens.lint(Pointwise(nn.Conv2d(8, 64, 1), nn.Conv2d(64, 16, 1)),
                         torch.randn(0, 8, 4, 4), select=["G"]) == []


def test_api_findings_point_at_user_code_not_torch() -> None:
    model = nn.Sequential(nn.Conv2d(13, 78, 1), nn.Conv2d(78, 13, 1), nn.Conv2d(13, 13, 1))
    found = costlens.lint(model, torch.randn(1, 13, 56, 56), select=["G1"])
    assert found and all(d.location.file.endswith("test_rules_behaviour.py") for d in found)


class Branchy(nn.Module):
    """Four parallel 1x1 convs, summed: fragmented (G3) and, run eagerly, add-heavy (G4)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(branch(x) for branch in self.branches)


class Stage(nn.Module):
    """Two Branchy blocks and one conv of its own; with `own_branches`, four parallel convs of
    its own as well."""

    def __init__(self, width: int, own_branches: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Branchy(width) for _ in range(2))
        self.own = nn.ModuleList(nn.Conv2d(width, width, 1)
                                 for _ in range(4 if own_branches else 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return sum(conv(x) for conv in self.own)


def _stages(own_branches: bool) -> nn.Module:
    return nn.Sequential(*(Stage(16, own_branches) for _ in range(2)))


def test_a_block_is_flagged_for_what_it_adds_itself() -> None:
    """The inner blocks' fragments are theirs: the stages around them are not flagged again,
    though counted whole they have 9 fragments in 4 branches."""
    x = torch.randn(1, 16, 14, 14)
    (found,) = _lint(_stages(False), x, "G3")
    assert found.group is not None and found.group.block_type == "Branchy"
    assert [i.module for i in found.instances] == ["0.blocks.0", "0.blocks.1", "1.blocks.0",
                                                   "1.blocks.1"]
    assert costlens.analyze(_stages(False), x).layer("0").block.fragments == 9


def test_an_enclosing_block_is_flagged_for_its_own_ops_only() -> None:
    x = torch.randn(1, 16, 14, 14)
    found = {d.group.block_type if d.group else d.module: d
             for d in _lint(_stages(True), x, "G3")}
    assert set(found) == {"Branchy", "Stage"}
    stage = found["Stage"]
    # the stage's own four convs: the inner blocks' eight are set aside
    assert stage.figures["fragments"] == 4 and len(stage.instances) == 2


def test_no_rule_flags_a_block_and_a_block_inside_it_on_the_examples() -> None:
    for module, factory in (("mobilenet_v2", "mobilenet_v2"), ("inception", "inception_net"),
                            ("shufflenet_v1", "shufflenet_v1"), ("resnet", "resnext50_32x4d")):
        from helpers import example
        found = costlens.lint(*getattr(example(module), factory)(), select=["G"],
                              options={"G3": {"max_fragments": 0, "max_branches": 1},
                                       "G4": {"max_share": 0.0}}, view="eager")
        for code in ("G3", "G4"):
            flagged = [i.module for d in found if d.code == code for i in d.instances]
            assert flagged, (module, code)
            nested = [(outer, inner) for outer in flagged for inner in flagged
                      if inner.startswith(f"{outer}.")]
            assert nested == [], (module, code)
