"""A diff as text: a table for the terminal, markdown for a pull-request comment, JSON for
scripts. One function per format, each reading the same Diff (formats.py maps the --format
names to them; diff_html.py writes the page).

The table and markdown show the headline (one line: what changed, in percent), the totals,
then the changed layers (largest change first), then the added and removed ones, down to a
depth; the JSON holds every layer.
"""
from __future__ import annotations

import json
import textwrap

from tabulate import tabulate

from . import cells
from .diff import Diff, changed_first

MAX_WIDTH = 120  # the table's legend lines, as the report's

#: The headline's figures: these always, params when they change, and MAC bytes and kernels
#: only when they are all that changed (another dtype, a view become a copy).
HEADLINE = ("flops", "mac", "latency_ms")


def headline(diff: Diff) -> str:
    """`FLOPs +12.4%, MAC +3.1%, est. latency +8.0% on epyc-cpu-1t`; `no cost change`."""
    if not diff.totals_changed:
        moved = [layer for layer in diff.layers if layer.status != "unchanged"]
        if not moved:
            return "no cost change"
        return (f"no change in the totals; {len(moved)} layer{'s' if len(moved) != 1 else ''} "
                "changed, added or removed")
    counted = any(diff.totals[key].changed for key in ("params", "flops", "mac"))
    parts = []
    for figure in diff.figures:
        change = diff.totals[figure.key]
        if figure.key not in HEADLINE and not (change.changed and (
                figure.key == "params" or not counted)):
            continue
        shown = cells.percent(change)
        if shown == "from 0":
            shown = f"from 0 to {cells.value(figure, change.new)}"
        parts.append(f"{figure.label} {shown}")
    text = ", ".join(parts)
    if diff.platform is not None:
        text += f" on {diff.platform['profile']}"
    return text


def render_table(diff: Diff, depth: int) -> str:
    return _render(diff, depth, markdown=False)


def render_markdown(diff: Diff, depth: int) -> str:
    return _render(diff, depth, markdown=True)


def render_json(diff: Diff, depth: int) -> str:
    """Every layer, whatever the depth."""
    return json.dumps(diff.to_dict(), indent=2) + "\n"


def _render(diff: Diff, depth: int, markdown: bool) -> str:
    """The table and the markdown: the same sections, laid out for a terminal or for GitHub."""
    def code(text: str) -> str:
        return f"`{text}`" if markdown else text

    def table(headers: list[str], rows: list[list[str]], labels: int) -> str:
        return tabulate(rows, headers=headers, tablefmt="github" if markdown else "simple",
                        stralign="right", disable_numparse=True, colalign=("left",) * labels)

    legend = f"{cells.FLOPS_LEGEND}. {cells.MAC_LEGEND}. {cells.UNITS}."
    if diff.platform is not None:
        legend += " " + cells.latency_text(diff.platform)
    if markdown:
        about = [f"Base: {code(diff.base.label)}, {diff.base.summary()}; new: "
                 f"{code(diff.new.label)}, {diff.new.summary()}. {legend}"]
    else:
        about = [f"base: {diff.base.label}, {diff.base.summary()}",
                 f"new:  {diff.new.label}, {diff.new.summary()}", *_wrapped(legend)]
    figures = diff.figures
    lines = [headline(diff), "", *about, "",
             table(["figure", "base", "new", "difference", "change"],
                   [[f.label, cells.value(f, diff.totals[f.key].base),
                     cells.value(f, diff.totals[f.key].new),
                     cells.difference(f, diff.totals[f.key]), cells.percent(diff.totals[f.key])]
                    for f in figures], 1)]
    headers = ["layer", "type", *(f.label.removeprefix("est. ") for f in figures)]
    shown = [layer for layer in diff.layers if 1 <= layer.depth <= depth]
    sections = (
        ("Changed layers", ", largest change first",
         changed_first([layer for layer in shown if layer.status == "changed"]),
         lambda layer: [cells.changed(layer, f) for f in figures]),
        ("Added layers", "", [layer for layer in shown if layer.status == "added"],
         lambda layer: [cells.value(f, layer.figures[f.key].new) for f in figures]),
        ("Removed layers", "", [layer for layer in shown if layer.status == "removed"],
         lambda layer: [cells.value(f, layer.figures[f.key].base) for f in figures]),
    )
    for title, order, layers, row in sections:
        if layers:
            caption = f"{title} (down to depth {depth}{order})"
            lines += ["", f"**{caption}**" if markdown else f"{caption}:", "",
                      table(headers, [[code(layer.name), layer.type, *row(layer)]
                                      for layer in layers], 2)]
    deeper = cells.hidden(diff, depth)
    if deeper:
        lines += ["", f"{deeper} more changed, added or removed "
                      f"layer{'s' if deeper != 1 else ''} deeper than depth {depth} (--depth "
                      "shows them)."]
    return "\n".join(lines) + "\n"


def _wrapped(text: str) -> list[str]:
    return textwrap.wrap(text, MAX_WIDTH, break_on_hyphens=False)



