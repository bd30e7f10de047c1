"""A diff as an HTML page, for a CI artifact or a review link: the headline, the totals, and
each changed layer with a bar of its change, beside the added and removed layers. One file with
no network, like the report's (report/html_page.py)."""
from __future__ import annotations

from html import escape

from ..report.html_page import document
from . import cells
from .diff import Diff, Figure, LayerChange, changed_first
from .diff_render import headline

GROWTH, SHRINK = "#D55E00", "#009E73"  # more cost, less cost


def render_html(diff: Diff, depth: int) -> str:
    figures = diff.figures
    shown = [layer for layer in diff.layers if 1 <= layer.depth <= depth]
    changed = changed_first(_with(shown, "changed"))
    lead = next((f for f in figures if f.key == "latency_ms"), figures[1])  # time, else FLOPs
    body = [
        "<h1>Cost diff</h1>",
        f'<p id="headline"><b>{escape(headline(diff))}</b></p>',
        f'<p class="sub">Base: <code>{escape(diff.base.label)}</code>, '
        f"{escape(diff.base.summary())}</p>",
        f'<p class="sub">New: <code>{escape(diff.new.label)}</code>, '
        f"{escape(diff.new.summary())}</p>",
        f'<p class="muted">{escape(cells.FLOPS_LEGEND)}. {escape(cells.MAC_LEGEND)}. '
        f"{escape(cells.UNITS)}."
        + (f" {escape(cells.latency_text(diff.platform))}" if diff.platform else "") + "</p>",
        _totals(diff, figures),
        _changed(changed, figures, lead, depth),
        _listed("Added layers", "added", _with(shown, "added"), figures, "new"),
        _listed("Removed layers", "removed", _with(shown, "removed"), figures, "base"),
    ]
    deeper = cells.hidden(diff, depth)
    if deeper:
        body.append(f'<p class="muted">{deeper} more changed, added or removed layers deeper '
                    f"than depth {depth}.</p>")
    return document("costlens: cost diff", "\n".join(body), script=False)


def _with(layers: list[LayerChange], status: str) -> list[LayerChange]:
    return [layer for layer in layers if layer.status == status]


def _totals(diff: Diff, figures: tuple[Figure, ...]) -> str:
    rows = "".join(
        f'<tr><td class="text">{escape(f.label)}</td>'
        f"<td>{escape(cells.value(f, diff.totals[f.key].base))}</td>"
        f"<td>{escape(cells.value(f, diff.totals[f.key].new))}</td>"
        f"<td>{escape(cells.difference(f, diff.totals[f.key]))}</td>"
        f'<td style="color:{_color(diff.totals[f.key].difference)}">'
        f"{escape(cells.percent(diff.totals[f.key]))}</td></tr>" for f in figures)
    return ('<h2>Totals</h2><table id="totals"><thead><tr><th class="text">figure</th>'
            "<th>base</th><th>new</th><th>difference</th><th>change</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _changed(layers: list[LayerChange], figures: tuple[Figure, ...], lead: Figure,
             depth: int) -> str:
    if not layers:
        return f'<h2>Changed layers</h2><p id="changed">None down to depth {depth}.</p>'
    largest = max(abs(layer.figures[lead.key].difference) for layer in layers) or 1.0
    head = "".join(f"<th>{escape(f.label.removeprefix('est. '))}</th>" for f in figures)
    rows = []
    for layer in layers:
        change = layer.figures[lead.key].difference
        row = "".join(f"<td>{escape(cells.changed(layer, f))}</td>" for f in figures)
        rows.append(f'<tr><td class="text"><code>{escape(layer.name)}</code></td>'
                    f'<td class="text">{escape(layer.type)}</td>'
                    f"<td>{_bar(change, largest, f'{lead.label}: {cells.changed(layer, lead)}')}"
                    "</td>"
                    f"{row}</tr>")
    return (f"<h2>Changed layers</h2><p class=\"sub\">Down to depth {depth}, largest change "
            f"first; the bar is the change in {escape(lead.label)} (right: more, left: "
            "less), drawn to the largest.</p>"
            '<table id="changed"><thead><tr><th class="text">layer</th>'
            f'<th class="text">type</th><th>{escape(lead.label)}</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _listed(title: str, key: str, layers: list[LayerChange], figures: tuple[Figure, ...],
            side: str) -> str:
    if not layers:
        return ""
    head = "".join(f"<th>{escape(f.label.removeprefix('est. '))}</th>" for f in figures)
    rows = "".join(
        f'<tr><td class="text"><code>{escape(layer.name)}</code></td>'
        f'<td class="text">{escape(layer.type)}</td>'
        + "".join(f"<td>{escape(cells.value(f, getattr(layer.figures[f.key], side)))}</td>"
                  for f in figures) + "</tr>" for layer in layers)
    return (f'<h2>{escape(title)}</h2><table id="{key}"><thead><tr>'
            f'<th class="text">layer</th><th class="text">type</th>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def _bar(change: float, largest: float, title: str, width: int = 160) -> str:
    """A bar from the middle: right and orange for more cost, left and green for less."""
    half = width / 2
    span = half * abs(change) / largest
    x = half if change >= 0 else half - span
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="bar" width="{width}" height="12" '
            f'viewBox="0 0 {width} 12" role="img" aria-label="{escape(title)}">'
            f'<line x1="{half}" y1="0" x2="{half}" y2="12" stroke="#999"/>'
            f'<rect x="{x:.2f}" y="1" width="{span:.2f}" height="10" fill="{_color(change)}">'
            f"<title>{escape(title)}</title></rect></svg>")


def _color(change: float) -> str:
    return GROWTH if change > 0 else SHRINK if change < 0 else "inherit"
