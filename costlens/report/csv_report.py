"""Per-layer figures as CSV, raw numbers, for spreadsheets and scripts: the same rows as the
table, the last one the whole model; an empty cell where a figure does not apply."""
from __future__ import annotations

import csv
import dataclasses
import io

from ..analysis import Analysis
from ..latency.estimate import LatencyEstimate
from .rows import STEP_FIELDS, Row, RowSelection, selected_rows, total_row

LATENCY_COLUMNS = ("latency_ms", "time_share", "bound")
STEP_COLUMNS = ("saved_bytes", *STEP_FIELDS)
COLUMNS = tuple(field.name for field in dataclasses.fields(Row)
                if field.name not in LATENCY_COLUMNS + STEP_COLUMNS)


def render_csv(analysis: Analysis, selection: RowSelection,
               latency: LatencyEstimate | None = None) -> str:
    """The latency columns appear only with a platform estimate, those of a training step's
    phases only for one (a phase it did not run: empty cells)."""
    columns = (COLUMNS + (STEP_COLUMNS if analysis.graph.step is not None else ())
               + (LATENCY_COLUMNS if latency is not None else ()))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in [*selected_rows(analysis, selection, latency), total_row(analysis, latency)]:
        writer.writerow(["" if getattr(row, column) is None else _plain(getattr(row, column))
                         for column in columns])
    return buffer.getvalue()


def _plain(value: object) -> object:
    """Shares and intensities at six significant digits, like the JSON."""
    return float(f"{value:.6g}") if isinstance(value, float) else value
