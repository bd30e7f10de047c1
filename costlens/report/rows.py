"""The rows a tabular report shows: layers chosen by depth, ordered, cut to the top K, plus the
model's own forward where it ran ops itself, and the total. Shared by the table, markdown and
CSV, so they always list the same rows and the rows of one depth add up to the total."""
from __future__ import annotations

from dataclasses import dataclass

from ..analysis import Analysis, LayerRecord
from ..costs import Category

SORT_KEYS = ("flops", "mac", "params", "name")

_ELEMENTWISE = {Category.ELEMENTWISE.value, Category.NORMALIZATION.value}


@dataclass(frozen=True)
class RowSelection:
    """`sort` None keeps execution order; `top` None keeps every row."""

    depth: int = 2
    sort: str | None = None
    top: int | None = None


@dataclass(frozen=True)
class Row:
    """One line of a report. Block figures (calls, fragments, branches) are None where they do
    not apply: the model's own forward is not a block of its own."""

    name: str
    type: str
    depth: int
    calls: int | None
    params: int | None
    flops: int
    mac: int
    mac_bytes: int
    intensity: float
    parallelism: int
    fragments: int | None
    branches: int | None
    kernels: int
    elementwise_mac_share: float
    movement_mac_share: float

    @classmethod
    def of_layer(cls, layer: LayerRecord, name: str | None = None) -> Row:
        block = layer.block
        return cls(name if name is not None else layer.name, layer.type, layer.depth,
                   layer.calls, layer.params, layer.flops, layer.mac, layer.mac_bytes,
                   layer.intensity, layer.parallelism, block.fragments, block.branches,
                   block.kernels, block.elementwise_mac_share, block.movement_mac_share)


def selected_rows(analysis: Analysis, selection: RowSelection) -> list[Row]:
    rows = [Row.of_layer(layer) for layer in analysis.layers
            if 1 <= layer.depth <= selection.depth]
    own = _own_forward(analysis)
    if own is not None and selection.depth >= 1:
        rows.append(own)
    if selection.sort == "name":
        rows.sort(key=lambda row: row.name)
    elif selection.sort is not None:
        rows.sort(key=lambda row: getattr(row, selection.sort) or 0, reverse=True)
    return rows if selection.top is None else rows[:selection.top]


def total_row(analysis: Analysis) -> Row:
    return Row.of_layer(analysis.layer(""), name="total")


def _own_forward(analysis: Analysis) -> Row | None:
    """Ops the model's own forward ran outside any child module (a flatten, a residual add, a
    global pool written as a mean), or None when there are none."""
    own = [op for op in analysis.ops if op.module == "" and op.supported and op.category != "view"]
    if not own:
        return None
    flops = sum(op.flops for op in own)
    mac = sum(op.mac for op in own)
    mac_bytes = sum(op.mac_bytes for op in own)
    elementwise = sum(op.mac for op in own if op.category in _ELEMENTWISE)
    movement = sum(op.mac for op in own if op.category == Category.MOVEMENT.value)
    return Row(f"({analysis.model_type}.forward)", analysis.model_type, 1, None, None, flops,
               mac, mac_bytes, round(flops / mac_bytes, 6) if mac_bytes else 0.0,
               round(sum(op.parallelism for op in own) / len(own)), None, None, len(own),
               elementwise / mac if mac else 0.0, movement / mac if mac else 0.0)
