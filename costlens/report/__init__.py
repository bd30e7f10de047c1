"""Reporters: one Analysis in, text out. Each format reads the same result."""
from __future__ import annotations

from typing import Sequence

from ..analysis import Analysis
from ..latency.estimate import LatencyEstimate
from ..latency.profile import Profile
from ..linting.finding import Diagnostic
from .csv_report import render_csv
from .html_report import render_html
from .json_report import render_json
from .rows import SORT_KEYS, RowSelection
from .table import render_table

FORMATS = ("table", "json", "csv", "markdown", "html")

__all__ = ["FORMATS", "SORT_KEYS", "RowSelection", "render"]


def render(analysis: Analysis, output_format: str, selection: RowSelection,
           latency: LatencyEstimate | None = None, wide: bool = False,
           profile: Profile | None = None, diagnostics: Sequence[Diagnostic] = ()) -> str:
    """The report in `output_format`, with the latency figures of `latency` when given; JSON and
    HTML are always complete (every layer; JSON every op too), the other formats show the
    selected rows; the table shows every column only when `wide` (markdown and CSV always do).
    The HTML page also draws `profile`'s roofs and shows the lint `diagnostics`."""
    if output_format == "html":
        return render_html(analysis, latency, profile, diagnostics)
    if output_format == "json":
        return render_json(analysis, latency)
    if output_format == "csv":
        return render_csv(analysis, selection, latency)
    if output_format in ("table", "markdown"):
        return render_table(analysis, selection, markdown=output_format == "markdown",
                            latency=latency, wide=wide)
    raise ValueError(f"unknown format {output_format!r}")
