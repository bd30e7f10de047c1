"""Per-layer figures as CSV, raw numbers, for spreadsheets and scripts: the same rows as the
table, the last one the whole model; an empty cell where a figure does not apply."""
from __future__ import annotations

import csv
import dataclasses
import io

from ..analysis import Analysis
from .rows import Row, RowSelection, selected_rows, total_row

COLUMNS = tuple(field.name for field in dataclasses.fields(Row))


def render_csv(analysis: Analysis, selection: RowSelection) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in [*selected_rows(analysis, selection), total_row(analysis)]:
        writer.writerow(["" if value is None else _plain(value)
                         for value in dataclasses.astuple(row)])
    return buffer.getvalue()


def _plain(value: object) -> object:
    """Shares and intensities at six significant digits, like the JSON."""
    return float(f"{value:.6g}") if isinstance(value, float) else value
