"""Per-layer figures as CSV, raw integers, for spreadsheets and scripts; the last row is the
whole model."""
from __future__ import annotations

import csv
import io

from ..analysis import Analysis, LayerRecord
from .rows import RowSelection, selected_layers

COLUMNS = ("name", "type", "depth", "calls", "params", "flops", "mac", "mac_bytes", "intensity",
           "parallelism", "fragments", "branches", "kernels", "elementwise_mac_share",
           "movement_mac_share")


def render_csv(analysis: Analysis, selection: RowSelection) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for layer in selected_layers(analysis, selection):
        writer.writerow(_values(layer))
    writer.writerow(_values(analysis.layer(""), name="total"))
    return buffer.getvalue()


def _values(layer: LayerRecord, name: str | None = None) -> list[object]:
    record = layer.to_dict()
    if name is not None:
        record["name"] = name
    return [record[column] for column in COLUMNS]
