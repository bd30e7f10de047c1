"""Reporters: one Analysis in, text out. Each format reads the same result."""
from __future__ import annotations

from ..analysis import Analysis
from .csv_report import render_csv
from .rows import SORT_KEYS, RowSelection
from .table import render_table

FORMATS = ("table", "json", "csv", "markdown")

__all__ = ["FORMATS", "SORT_KEYS", "RowSelection", "render"]


def render(analysis: Analysis, output_format: str, selection: RowSelection) -> str:
    """The report in `output_format`; JSON is always complete (every layer and op), the other
    formats show the selected rows."""
    if output_format == "json":
        return analysis.to_json()
    if output_format == "csv":
        return render_csv(analysis, selection)
    if output_format in ("table", "markdown"):
        return render_table(analysis, selection, markdown=output_format == "markdown")
    raise ValueError(f"unknown format {output_format!r}")
