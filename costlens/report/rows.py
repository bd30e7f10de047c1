"""The rows a tabular report shows: layers chosen by depth, ordered, cut to the top K, and the
total. Shared by the table, markdown and CSV, so they always list the same rows; the analysis
gives every module that runs ops of its own a row for them, so the rows under a module add up
to it at every depth."""
from __future__ import annotations

from dataclasses import dataclass

from ..analysis import Analysis, LayerRecord
from ..latency.estimate import LatencyEstimate

SORT_KEYS = ("flops", "mac", "params", "latency", "name")


@dataclass(frozen=True)
class RowSelection:
    """`sort` None keeps execution order; `top` None keeps every row."""

    depth: int = 2
    sort: str | None = None
    top: int | None = None


@dataclass(frozen=True)
class Row:
    """One line of a report."""

    name: str
    forward_of: str | None  # see LayerRecord: the module of an own-forward row
    type: str
    depth: int
    calls: int
    params: int
    flops: int
    mac: int
    mac_bytes: int
    intensity: float
    parallelism: int
    fragments: int
    branches: int
    kernels: int
    elementwise_mac_share: float
    movement_mac_share: float
    peak_bytes: int
    latency_ms: float | None = None  # the --platform figures, None without one
    time_share: float | None = None
    bound: str | None = None
    saved_bytes: int | None = None  # a training step's figures, None for a forward pass
    forward_flops: int | None = None
    backward_flops: int | None = None
    optimizer_flops: int | None = None
    forward_mac: int | None = None
    backward_mac: int | None = None
    optimizer_mac: int | None = None
    forward_mac_bytes: int | None = None
    backward_mac_bytes: int | None = None
    optimizer_mac_bytes: int | None = None

    @classmethod
    def of_layer(cls, layer: LayerRecord, name: str | None = None,
                 latency: LatencyEstimate | None = None) -> Row:
        block = layer.block
        timed = latency.layers[layer.name] if latency is not None else None
        return cls(name if name is not None else layer.name, layer.forward_of, layer.type,
                   layer.depth,
                   layer.calls, layer.params, layer.flops, layer.mac, layer.mac_bytes,
                   layer.intensity, layer.parallelism, block.fragments, block.branches,
                   block.kernels, block.elementwise_mac_share, block.movement_mac_share,
                   layer.peak_bytes,
                   None if timed is None else timed.seconds * 1e3,
                   None if timed is None else timed.share,
                   None if timed is None else timed.bound.value,
                   layer.saved_bytes, **_phase_fields(layer))


STEP_FIELDS = tuple(f"{phase}_{figure}" for figure in ("flops", "mac", "mac_bytes")
                    for phase in ("forward", "backward", "optimizer"))


def _phase_fields(layer: LayerRecord) -> dict[str, int]:
    """A training step's figures of each phase it ran, as Row fields."""
    return {f"{phases.phase}_{figure}": getattr(phases, figure) for phases in layer.phases
            for figure in ("flops", "mac", "mac_bytes")}


def selected_rows(analysis: Analysis, selection: RowSelection,
                  latency: LatencyEstimate | None = None) -> list[Row]:
    rows = [Row.of_layer(layer, latency=latency) for layer in analysis.layers
            if 1 <= layer.depth <= selection.depth]
    if selection.sort == "name":
        rows.sort(key=lambda row: row.name)
    elif selection.sort is not None:
        key = "latency_ms" if selection.sort == "latency" else selection.sort
        rows.sort(key=lambda row: getattr(row, key) or 0, reverse=True)
    return rows if selection.top is None else rows[:selection.top]


def total_row(analysis: Analysis, latency: LatencyEstimate | None = None) -> Row:
    return Row.of_layer(analysis.layer(""), name="total", latency=latency)
