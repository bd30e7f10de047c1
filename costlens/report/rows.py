"""The layers a report shows: chosen by depth, ordered, cut to the top K, shared by every
tabular format so that table, markdown and CSV always list the same rows."""
from __future__ import annotations

from dataclasses import dataclass

from ..analysis import Analysis, LayerRecord

SORT_KEYS = ("flops", "mac", "params", "name")


@dataclass(frozen=True)
class RowSelection:
    """`sort` None keeps execution order; `top` None keeps every row."""

    depth: int = 2
    sort: str | None = None
    top: int | None = None


def selected_layers(analysis: Analysis, selection: RowSelection) -> list[LayerRecord]:
    layers = [layer for layer in analysis.layers if 1 <= layer.depth <= selection.depth]
    if selection.sort == "name":
        layers.sort(key=lambda layer: layer.name)
    elif selection.sort is not None:
        layers.sort(key=lambda layer: getattr(layer, selection.sort), reverse=True)
    return layers if selection.top is None else layers[:selection.top]


def root_own_figures(analysis: Analysis) -> tuple[int, int, int] | None:
    """FLOPs, MAC and MAC bytes of ops the model's own forward ran outside any child module
    (a flatten, a residual add), or None when there are none; the rows would miss them."""
    own = [op for op in analysis.ops if op.module == "" and op.supported and op.mac]
    if not own:
        return None
    return (sum(op.flops for op in own), sum(op.mac for op in own),
            sum(op.mac_bytes for op in own))
