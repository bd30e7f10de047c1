"""The rows a tabular report shows: layers chosen by depth, ordered, cut to the top K, plus the
model's own forward where it ran ops itself, and the total. Shared by the table, markdown and
CSV, so they always list the same rows and the rows of one depth add up to the total."""
from __future__ import annotations

from dataclasses import dataclass

from ..analysis import Analysis, LayerRecord
from ..costs import Category
from ..latency.estimate import LatencyEstimate

SORT_KEYS = ("flops", "mac", "params", "latency", "name")

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
    latency_ms: float | None = None  # the --platform figures, None without one
    time_share: float | None = None
    bound: str | None = None

    @classmethod
    def of_layer(cls, layer: LayerRecord, name: str | None = None,
                 latency: LatencyEstimate | None = None) -> Row:
        block = layer.block
        timed = latency.layers[layer.name] if latency is not None else None
        return cls(name if name is not None else layer.name, layer.type, layer.depth,
                   layer.calls, layer.params, layer.flops, layer.mac, layer.mac_bytes,
                   layer.intensity, layer.parallelism, block.fragments, block.branches,
                   block.kernels, block.elementwise_mac_share, block.movement_mac_share,
                   None if timed is None else timed.seconds * 1e3,
                   None if timed is None else timed.share,
                   None if timed is None else timed.bound)


def selected_rows(analysis: Analysis, selection: RowSelection,
                  latency: LatencyEstimate | None = None) -> list[Row]:
    rows = [Row.of_layer(layer, latency=latency) for layer in analysis.layers
            if 1 <= layer.depth <= selection.depth]
    own = _own_forward(analysis, latency)
    if own is not None and selection.depth >= 1:
        rows.append(own)
    if selection.sort == "name":
        rows.sort(key=lambda row: row.name)
    elif selection.sort is not None:
        key = "latency_ms" if selection.sort == "latency" else selection.sort
        rows.sort(key=lambda row: getattr(row, key) or 0, reverse=True)
    return rows if selection.top is None else rows[:selection.top]


def total_row(analysis: Analysis, latency: LatencyEstimate | None = None) -> Row:
    return Row.of_layer(analysis.layer(""), name="total", latency=latency)


def _own_forward(analysis: Analysis, latency: LatencyEstimate | None) -> Row | None:
    """Ops the model's own forward ran outside any child module (a flatten, a residual add, a
    global pool written as a mean), or None when there are none."""
    own = [op for op in analysis.ops if op.module == "" and op.supported and op.category != "view"]
    if not own:
        return None
    timed: dict[str, object] = {}
    if latency is not None:
        root_calls = sum(1 for call in analysis.graph.calls if call.module == "")
        seconds = sum(latency.ops[op.index].seconds for op in analysis.ops if op.module == "")
        seconds += root_calls * latency.module_call_seconds / max(len(analysis.graph.calls), 1)
        timed = {"latency_ms": seconds * 1e3,
                 "time_share": seconds / latency.seconds if latency.seconds else 0.0,
                 "bound": _dominant_bound(latency, [op.index for op in own])}
    flops = sum(op.flops for op in own)
    mac = sum(op.mac for op in own)
    mac_bytes = sum(op.mac_bytes for op in own)
    elementwise = sum(op.mac for op in own if op.category in _ELEMENTWISE)
    movement = sum(op.mac for op in own if op.category == Category.MOVEMENT.value)
    return Row(f"({analysis.model_type}.forward)", analysis.model_type, 1, None, None, flops,
               mac, mac_bytes, round(flops / mac_bytes, 6) if mac_bytes else 0.0,
               round(sum(op.parallelism for op in own) / len(own)), None, None, len(own),
               elementwise / mac if mac else 0.0, movement / mac if mac else 0.0, **timed)


def _dominant_bound(latency: LatencyEstimate, indices: list[int]) -> str:
    spent: dict[str, float] = {}
    for index in indices:
        op = latency.ops[index]
        spent[op.bound] = spent.get(op.bound, 0.0) + op.seconds
    return max(sorted(spent), key=lambda bound: spent[bound])
