"""A comparison as text: a table for the terminal, markdown, JSON and CSV. One function per
format, each reading the same Comparison (formats.py maps the --format names to them;
compare_html.py writes the page). The
latency columns appear only with an estimate; the table and markdown then say how to get
them."""
from __future__ import annotations

import csv
import io
import json
import textwrap
from typing import Callable

from tabulate import tabulate

from ..latency import builtin_profiles
from ..units import human
from . import cells
from .compare import Comparison, Row

MAX_WIDTH = 120  # the legend's lines, as the report's

#: (table header, CSV header, cell) of every column; the last three need an estimate.
COLUMNS: tuple[tuple[str, str, Callable[[Row], str]], ...] = (
    ("target", "target", lambda row: row.target),
    ("params", "params", lambda row: human(row.params)),
    ("FLOPs", "flops", lambda row: human(row.flops)),
    ("MAC", "mac", lambda row: human(row.mac)),
    ("kernels", "kernels", lambda row: str(row.kernels)),
    ("latency (ms)", "latency_ms", lambda row: f"{row.latency_ms:.3f}"),
    ("FLOP/s", "flops_per_second", lambda row: human(row.flops_per_second)),
    ("bound", "bound", lambda row: row.bound or "-"),
)
LATENCY_COLUMNS = 3


def render_table(comparison: Comparison) -> str:
    return _render(comparison, markdown=False)


def render_markdown(comparison: Comparison) -> str:
    return _render(comparison, markdown=True)


def render_json(comparison: Comparison) -> str:
    return json.dumps(comparison.to_dict(), indent=2) + "\n"


def render_csv(comparison: Comparison) -> str:
    """Raw numbers, one row per target; an empty cell where a figure does not apply."""
    latency = comparison.platform is not None
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = [csv_name for _, csv_name, _ in table_columns(latency)]
    writer.writerow(["target", "model", *columns[1:]])
    for row in comparison.rows:
        values = row.to_dict(latency)
        writer.writerow([row.target, row.model,
                         *("" if values[name] is None else values[name] for name in columns[1:])])
    return buffer.getvalue()


def table_columns(latency: bool) -> tuple[tuple[str, str, Callable[[Row], str]], ...]:
    return COLUMNS if latency else COLUMNS[:-LATENCY_COLUMNS]


def _render(comparison: Comparison, markdown: bool) -> str:
    platform = comparison.platform
    columns = table_columns(platform is not None)
    legend = f"{cells.FLOPS_LEGEND}. {cells.MAC_LEGEND}. {cells.UNITS}."
    if platform is not None:
        legend += (f" {cells.latency_text(platform)} FLOP/s: FLOPs (multiply-adds) per "
                   "estimated second. bound: what limits the whole model's estimated time most.")
    targets = [f"`{row.target}`" if markdown else row.target for row in comparison.rows]
    table = tabulate([[target, *(cell(row) for _, _, cell in columns[1:])]
                      for target, row in zip(targets, comparison.rows)],
                     headers=[header for header, _, _ in columns],
                     tablefmt="github" if markdown else "simple", stralign="right",
                     disable_numparse=True, colalign=("left",))
    lines = [legend] if markdown else textwrap.wrap(legend, MAX_WIDTH, break_on_hyphens=False)
    lines += ["", table]
    if platform is None:
        how = ("Estimated latency, attained FLOP/s and bound: add --platform PROFILE (a file "
               f"from `costlens calibrate`, or built-in: {', '.join(builtin_profiles())}).")
        lines += ["", *([how] if markdown else textwrap.wrap(how, MAX_WIDTH))]
    return "\n".join(lines) + "\n"
