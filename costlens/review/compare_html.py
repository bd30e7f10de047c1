"""A comparison as an HTML page: the paper's Table 8 for the user's candidates and its Figure 1
view, each candidate a point at its FLOPs against its estimated latency (its MAC without a
platform): where FLOPs and time disagree, candidates of equal FLOPs sit far apart. One file
with no network, like the report's (report/html_page.py)."""
from __future__ import annotations

import re
from html import escape

from ..report.html_page import PALETTE, document
from ..report.svg import Point, decade, scatter
from ..units import human
from . import cells
from .compare import Comparison
from .compare_render import table_columns


def render_html(comparison: Comparison) -> str:
    latency = comparison.platform is not None
    columns = table_columns(latency)
    head = "".join(f'<th class="{"text" if index == 0 else ""}">{escape(header)}</th>'
                   for index, (header, _, _) in enumerate(columns))
    rows = "".join(
        "<tr>" + "".join(f'<td class="{"text" if index == 0 else ""}">{escape(cell(row))}</td>'
                         for index, (_, _, cell) in enumerate(columns)) + "</tr>"
        for row in comparison.rows)
    legend = f"{cells.FLOPS_LEGEND}. {cells.MAC_LEGEND}. {cells.UNITS}."
    if latency:
        legend += (f" {cells.latency_text(comparison.platform)} FLOP/s: FLOPs per estimated "
                   "second. bound: what limits the whole model's estimated time most.")
    points = [Point(row.flops, row.latency_ms if latency else row.mac * 1.0,
                    PALETTE[index % len(PALETTE)],
                    f"{row.target}: {human(row.flops)} FLOPs, "
                    + (f"{row.latency_ms:.3f} ms" if latency else f"{human(row.mac)} MAC"),
                    radius=5, label=_short(row.target))
              for index, row in enumerate(comparison.rows) if row.flops > 0]
    y_label = "estimated latency (ms)" if latency else "MAC (elements)"
    chart = scatter(points, "FLOPs (multiply-adds)", y_label, decade, decade,
                    chart_id="candidates-chart") if points else "<p>No candidate has FLOPs.</p>"
    what = ("estimated latency" if latency else
            "MAC, memory traffic standing in for time (give --platform for estimated latency)")
    body = [
        "<h1>Candidates compared</h1>",
        f'<p class="muted">{escape(legend)}</p>',
        f'<table id="candidates"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>',
        "<h2>FLOPs against time</h2>",
        f'<p class="sub">Each candidate at its FLOPs and its {escape(what)}, the paper\'s '
        "Figure 1 view: FLOPs alone do not order them by speed.</p>",
        chart,
    ]
    return document("costlens: candidates compared", "\n".join(body), script=False)


def _short(target: str) -> str:
    """`resnet.py:resnet50(width=2)` from `examples/resnet.py:resnet50(width=2)`."""
    return re.sub(r"^.*/", "", target)


