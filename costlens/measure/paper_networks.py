"""The four validation networks of the ShuffleNet V2 paper (Tables 1-4).

Source: Ma, Zhang, Zheng and Sun, "ShuffleNet V2: Practical Guidelines for
Efficient CNN Architecture Design", ECCV 2018 (arXiv:1807.11164), Section 2.
Each network stacks 10 blocks on a 56x56 map and varies one design choice
while holding FLOPs (multiply-adds) roughly constant, isolating one guideline:

- ``g1_network``: unequal input/output widths of 1x1 convs (G1),
- ``g2_network``: the number of groups of 1x1 group convs (G2),
- ``g3_network``: fragments per block, in series or in parallel (G3),
- ``g4_network``: ReLU and the identity shortcut of a bottleneck (G4).

All convs have no bias and there is no BatchNorm, as in the paper. The
``TABLE*_ROWS`` constants hold the paper's measured speeds (GPU: batches/s on a
GTX 1080Ti; CPU: images/s on one ARM core, Table 1's "ARM" columns) and the
``table*_kwargs`` helpers turn a row into builder arguments, so a benchmark can
loop over the table:

    for row in TABLE2_ROWS:
        model, x = g2_network(**table2_kwargs(row, platform="cpu"))

They live in the package because `costlens guidelines` runs them; examples/paper_benchmarks.py
offers them as TARGETs:
``costlens report 'examples/paper_benchmarks.py:g2_network(groups=8, c=360)'``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

Speeds = tuple[float, float, float]

# The x1/x2/x4 speed columns of Tables 1 and 2 are not defined in the paper's
# text; they are read here as channel-width multipliers of the listed widths.
_WIDTH_MULTIPLIERS = (1, 2, 4)


@dataclass(frozen=True)
class Table1Row:
    """One row of Table 1 (G1): channel widths and speeds per platform."""

    ratio: str
    gpu_channels: tuple[int, int]
    gpu_speed: Speeds
    cpu_channels: tuple[int, int]
    cpu_speed: Speeds


@dataclass(frozen=True)
class Table2Row:
    """One row of Table 2 (G2): group count, width and speeds per platform."""

    groups: int
    gpu_channels: int
    gpu_speed: Speeds
    cpu_channels: int
    cpu_speed: Speeds


@dataclass(frozen=True)
class Table3Row:
    """One row of Table 3 (G3); widths are the columns, see ``TABLE3_WIDTHS``."""

    label: str
    fragments: int
    parallel: bool
    gpu_speed: Speeds
    cpu_speed: Speeds


@dataclass(frozen=True)
class Table4Row:
    """One row of Table 4 (G4); widths are the columns, see ``TABLE4_WIDTHS``."""

    relu: bool
    shortcut: bool
    gpu_speed: Speeds
    cpu_speed: Speeds


TableRow = Table1Row | Table2Row | Table3Row | Table4Row

TABLE1_ROWS: tuple[Table1Row, ...] = (
    Table1Row("1:1", (128, 128), (1480, 723, 232), (32, 32), (76.2, 21.7, 5.3)),
    Table1Row("1:2", (90, 180), (1296, 586, 206), (22, 44), (72.9, 20.5, 5.1)),
    Table1Row("1:6", (52, 312), (876, 489, 189), (13, 78), (69.1, 17.9, 4.6)),
    Table1Row("1:12", (36, 432), (748, 392, 163), (9, 108), (57.6, 15.1, 4.4)),
)

TABLE2_ROWS: tuple[Table2Row, ...] = (
    Table2Row(1, 128, (2451, 1289, 437), 64, (40.0, 10.2, 2.3)),
    Table2Row(2, 180, (1725, 873, 341), 90, (35.0, 9.5, 2.2)),
    Table2Row(4, 256, (1026, 644, 338), 128, (32.9, 8.7, 2.1)),
    Table2Row(8, 360, (634, 445, 230), 180, (27.8, 7.5, 1.8)),
)

TABLE3_WIDTHS: dict[str, tuple[int, int, int]] = {
    "gpu": (128, 256, 512),
    "cpu": (64, 128, 256),
}
TABLE3_ROWS: tuple[Table3Row, ...] = (
    Table3Row("1-fragment", 1, False, (2446, 1274, 434), (40.2, 10.1, 2.3)),
    Table3Row("2-fragment-series", 2, False, (1790, 909, 336), (38.6, 10.1, 2.2)),
    Table3Row("4-fragment-series", 4, False, (752, 745, 349), (38.4, 10.1, 2.3)),
    Table3Row("2-fragment-parallel", 2, True, (1537, 803, 320), (33.4, 9.1, 2.2)),
    Table3Row("4-fragment-parallel", 4, True, (691, 572, 292), (35.0, 8.4, 2.1)),
)

TABLE4_WIDTHS: dict[str, tuple[int, int, int]] = {
    "gpu": (32, 64, 128),
    "cpu": (32, 64, 128),
}
TABLE4_ROWS: tuple[Table4Row, ...] = (
    Table4Row(True, True, (2427, 2066, 1436), (56.7, 16.9, 5.0)),
    Table4Row(True, False, (2647, 2256, 1735), (61.9, 18.8, 5.2)),
    Table4Row(False, True, (2672, 2121, 1458), (57.3, 18.2, 5.1)),
    Table4Row(False, False, (2842, 2376, 1782), (66.3, 20.2, 5.4)),
)


def paper_speed(row: TableRow, platform: str = "cpu", column: int = 0) -> float:
    """The paper's measured speed for ``row`` on ``platform`` ("gpu" or "cpu")."""
    return getattr(row, f"{platform}_speed")[column]


def table1_kwargs(row: Table1Row, platform: str = "cpu", column: int = 0) -> dict[str, int]:
    """``g1_network`` arguments for a Table 1 row and speed column (x1/x2/x4)."""
    c1, c2 = getattr(row, f"{platform}_channels")
    scale = _WIDTH_MULTIPLIERS[column]
    return {"c1": c1 * scale, "c2": c2 * scale}


def table2_kwargs(row: Table2Row, platform: str = "cpu", column: int = 0) -> dict[str, int]:
    """``g2_network`` arguments for a Table 2 row and speed column (x1/x2/x4).

    The width is rounded up to a multiple of the group count, which a group
    conv requires: the paper's CPU width 180 at g=8 becomes 184 (+3% FLOPs,
    closer to the g=1 row than 176 would be); every other width is unchanged.
    """
    c = getattr(row, f"{platform}_channels") * _WIDTH_MULTIPLIERS[column]
    return {"c": math.ceil(c / row.groups) * row.groups, "groups": row.groups}


def table3_kwargs(row: Table3Row, platform: str = "cpu", column: int = 0) -> dict[str, object]:
    """``g3_network`` arguments for a Table 3 row and width column."""
    c = TABLE3_WIDTHS[platform][column]
    return {"c": c, "fragments": row.fragments, "parallel": row.parallel}


def table4_kwargs(row: Table4Row, platform: str = "cpu", column: int = 0) -> dict[str, object]:
    """``g4_network`` arguments for a Table 4 row and width column."""
    c = TABLE4_WIDTHS[platform][column]
    return {"c": c, "relu": row.relu, "shortcut": row.shortcut}


def _conv1x1(in_channels: int, out_channels: int, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, groups=groups, bias=False)


def _maps(batch: int, channels: int, size: int) -> torch.Tensor:
    return torch.randn(batch, channels, size, size)


def g1_network(
    c1: int = 128, c2: int = 128, blocks: int = 10, size: int = 56, batch: int = 1
) -> tuple[nn.Module, torch.Tensor]:
    """Table 1: blocks of two 1x1 convs, c1 -> c2 -> c1, without activations.

    FLOPs per block on an HxW map are 2*H*W*c1*c2, so rows with equal c1*c2
    cost the same FLOPs while memory access cost is lowest at c1 == c2.
    """
    model = nn.Sequential(
        *(
            nn.Sequential(OrderedDict(conv1=_conv1x1(c1, c2), conv2=_conv1x1(c2, c1)))
            for _ in range(blocks)
        )
    )
    return model.eval(), _maps(batch, c1, size)


def g2_network(
    c: int = 128, groups: int = 1, blocks: int = 10, size: int = 56, batch: int = 1
) -> tuple[nn.Module, torch.Tensor]:
    """Table 2: a stack of 1x1 group convs, c -> c with ``groups`` groups.

    FLOPs are H*W*c*c/g per conv, so the paper widens c by sqrt(g) to hold
    FLOPs fixed while the weights, and so the memory access cost, grow.
    """
    model = nn.Sequential(*(_conv1x1(c, c, groups) for _ in range(blocks)))
    return model.eval(), _maps(batch, c, size)


class FragmentBlock(nn.Module):
    """``fragments`` 1x1 convs (children ``conv1``..), chained or summed.

    In series each conv feeds the next; in parallel every conv reads the
    block input and the branch outputs are added, one ``+`` per extra branch.
    """

    def __init__(self, width: int, fragments: int, parallel: bool) -> None:
        super().__init__()
        self.parallel = parallel
        for index in range(1, fragments + 1):
            self.add_module(f"conv{index}", _conv1x1(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, *rest = self.children()
        out = first(x)
        for conv in rest:
            out = out + conv(x) if self.parallel else conv(out)
        return out


def g3_network(
    c: int = 128,
    fragments: int = 1,
    parallel: bool = False,
    blocks: int = 10,
    size: int = 56,
    batch: int = 1,
) -> tuple[nn.Module, torch.Tensor]:
    """Table 3: blocks of 1, 2 or 4 fragments, in series or in parallel.

    ``c`` is the width of the 1-fragment block. A block of f convs of width w
    on an HxW map costs f*H*W*w^2 FLOPs, in series or in parallel, so every
    variant uses w = round(c / sqrt(fragments)) to hold FLOPs at the
    1-fragment level (exact for 4 fragments, within about 1% for 2).
    """
    width = round(c / math.sqrt(fragments))
    model = nn.Sequential(*(FragmentBlock(width, fragments, parallel) for _ in range(blocks)))
    return model.eval(), _maps(batch, width, size)


class Bottleneck(nn.Module):
    """ResNet bottleneck (1x1, 3x3, 1x1) whose ReLUs and shortcut can be removed.

    With ``relu`` off there is no ReLU at all; with ``shortcut`` off there is no
    add. This lets Table 4 measure the element-wise ops alone, at equal FLOPs.
    """

    def __init__(self, channels: int, relu: bool, shortcut: bool) -> None:
        super().__init__()
        mid = channels // 4
        self.conv1 = nn.Conv2d(channels, mid, 1, bias=False)
        self.conv2 = nn.Conv2d(mid, mid, 3, padding=1, bias=False)
        self.conv3 = nn.Conv2d(mid, channels, 1, bias=False)
        self.relu = relu
        self.shortcut = shortcut

    def _activate(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x) if self.relu else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._activate(self.conv1(x))
        out = self._activate(self.conv2(out))
        out = self.conv3(out)
        if self.shortcut:
            out = out + x
        return self._activate(out)


def g4_network(
    c: int = 32,
    relu: bool = True,
    shortcut: bool = True,
    blocks: int = 10,
    size: int = 56,
    batch: int = 1,
) -> tuple[nn.Module, torch.Tensor]:
    """Table 4: ResNet bottlenecks (c -> c/4 -> c/4 -> c), optional ReLU and shortcut."""
    model = nn.Sequential(*(Bottleneck(c, relu, shortcut) for _ in range(blocks)))
    return model.eval(), _maps(batch, c, size)
