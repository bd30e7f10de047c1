"""Reporters: one Analysis in, text out. Each format reads the same result."""
from __future__ import annotations

from ..analysis import Analysis
from ..latency.estimate import LatencyEstimate
from .csv_report import render_csv
from .json_report import render_json
from .rows import SORT_KEYS, RowSelection
from .table import render_table

FORMATS = ("table", "json", "csv", "markdown")

__all__ = ["FORMATS", "SORT_KEYS", "RowSelection", "render"]


def render(analysis: Analysis, output_format: str, selection: RowSelection,
           latency: LatencyEstimate | None = None, wide: bool = False) -> str:
    """The report in `output_format`, with the latency figures of `latency` when given; JSON is
    always complete (every layer and op), the other formats show the selected rows; the table
    shows every column only when `wide` (markdown and CSV always do)."""
    if output_format == "json":
        return render_json(analysis, latency)
    if output_format == "csv":
        return render_csv(analysis, selection, latency)
    if output_format in ("table", "markdown"):
        return render_table(analysis, selection, markdown=output_format == "markdown",
                            latency=latency, wide=wide)
    raise ValueError(f"unknown format {output_format!r}")
