"""The HTML report: totals, where the cost goes by op kind beside the FLOPs, a roofline of every
op, the module tree as a table to any depth, and the lint findings beside their layers.

It reads the same Analysis (and latency estimate, and lint diagnostics) as the other formats;
the page is one file with no network (html_page.py), its charts SVG written here (svg.py).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from html import escape
from typing import Sequence

from ..analysis import Analysis, LayerRecord
from ..latency.estimate import LatencyEstimate
from ..latency.profile import Profile
from ..linting.finding import Diagnostic
from ..units import human
from .breakdown import KINDS, Split, kind_of, split
from .html_page import PALETTE, cards, document, legend
from .svg import Line, Point, Segment, decade, scatter, stacked_bar
from .table import footer_lines, latency_line, title_line

COLORS = dict(zip(KINDS, PALETTE))


def render_html(analysis: Analysis, latency: LatencyEstimate | None = None,
                profile: Profile | None = None,
                diagnostics: Sequence[Diagnostic] = ()) -> str:
    """The page; `profile` is the one `latency` was estimated with (it draws the roofs)."""
    tree = _tree(analysis.layers)
    sections = [
        f"<h1>{escape(analysis.model_type)}</h1>",
        f'<p class="sub">{escape(title_line(analysis))}</p>',
        f'<p class="sub">{escape(latency_line(latency, analysis))}</p>' if latency else "",
        _totals(analysis, latency),
        _finding_counts(diagnostics),
        _where_the_cost_goes(analysis, latency, _blocks(analysis, tree)),
        _roofline(analysis, latency, profile),
        _layer_table(analysis, latency, diagnostics, tree),
        _findings(diagnostics, tree),
        "<h2>Notes</h2>" + "".join(f'<p class="muted">{escape(line.strip())}</p>'
                                   for line in footer_lines(analysis)),
    ]
    return document(f"costlens: {analysis.model_type}", "\n".join(s for s in sections if s))


CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict"})


def _blocks(analysis: Analysis, tree: list[tuple[str, str]]) -> list[str]:
    """The layers the cost split is drawn for: the model's children, each container among
    them (a Sequential stage, a ModuleList of transformer blocks) replaced by what it holds,
    so that a network of stages shows its blocks rather than a handful of stages."""
    children: dict[str, list[str]] = {}
    for name, parent in tree:
        children.setdefault(parent, []).append(name)

    def opened(name: str) -> list[str]:
        if analysis.layer(name).type in CONTAINERS and children.get(name):
            return [inner for child in children[name] for inner in opened(child)]
        return [name]

    return [inner for child in children.get("", []) for inner in opened(child)]


def _totals(analysis: Analysis, latency: LatencyEstimate | None) -> str:
    totals = analysis.totals
    figures = [(human(totals.params), "parameters"),
               (human(totals.flops), "FLOPs (multiply-adds)"),
               (human(totals.mac), "MAC (elements)"),
               (human(totals.mac_bytes, "B"), "MAC bytes"),
               (str(totals.kernels), "kernels"),
               (f"{totals.intensity:.2f}", "FLOP per MAC byte"),
               (human(totals.peak_bytes, "B"), "peak memory (tensors live at once)")]
    if totals.saved_bytes is not None:
        figures.append((human(totals.saved_bytes, "B"), "saved for the backward"))
    if latency is not None:
        figures += [(f"{latency.seconds * 1e3:.3f} ms",
                     f"estimated on {latency.profile} ({latency.case})"),
                    (latency.layers[""].bound.value, "bound (most of the time)")]
    return '<section id="totals">' + cards(figures) + "</section>"


def _finding_counts(diagnostics: Sequence[Diagnostic]) -> str:
    if not diagnostics:
        return '<p id="finding-counts">Lint: no findings.</p>'
    counts = Counter((d.code, d.severity.value) for d in diagnostics)
    badges = " ".join(f'<a class="badge {severity}" href="#findings">{escape(code)} x{count}</a>'
                      for (code, severity), count in sorted(counts.items()))
    return (f'<p id="finding-counts">Lint: {len(diagnostics)} finding'
            f'{"s" if len(diagnostics) != 1 else ""} {badges}</p>')


def _where_the_cost_goes(analysis: Analysis, latency: LatencyEstimate | None,
                         top_layers: list[str]) -> str:
    what = (f"estimated time on {latency.profile}" if latency is not None
            else "MAC bytes (memory traffic; give --platform for estimated time)")
    model = split(analysis, "", latency)
    layers = [split(analysis, name, latency) for name in top_layers]
    largest_cost = max((s.total_cost for s in layers), default=0.0)
    largest_flops = max((s.total_flops for s in layers), default=0.0)
    rows = [_split_row("whole model", model, model.total_cost, model.total_flops, model)]
    rows += [_split_row(s.name, s, largest_cost, largest_flops, model, link=True) for s in layers]
    shares = "".join(
        f'<tr><td class="text"><i style="display:inline-block;width:10px;height:10px;'
        f'background:{COLORS[kind]}"></i> {escape(kind)}</td>'
        f"<td>{_share(model.cost[kind], model.total_cost)}</td>"
        f"<td>{_share(model.flops[kind], model.total_flops)}</td></tr>"
        for kind in KINDS if model.cost[kind] or model.flops[kind])
    return (
        '<section id="breakdown"><h2>Where the cost goes</h2>'
        f'<p class="sub">By op kind: {escape(what)}, beside the FLOPs. The paper\'s first '
        "lesson: FLOPs leave out the element-wise ops, data movement and fixed costs that take "
        "much of the time. One row per block (containers opened); their bars are drawn to the "
        "largest block.</p>"
        + legend([(kind, COLORS[kind]) for kind in KINDS])
        + '<table class="split"><thead><tr><th class="text">layer</th>'
        f'<th class="text">{"time" if latency else "MAC bytes"}</th><th>share</th>'
        '<th class="text">FLOPs</th><th>share</th></tr></thead><tbody>'
        + "".join(rows) + "</tbody></table>"
        + '<h3>Whole model, by kind</h3><table id="kind-shares"><thead><tr>'
        f'<th class="text">kind</th><th>{"time" if latency else "MAC bytes"}</th>'
        "<th>FLOPs</th></tr></thead><tbody>" + shares + "</tbody></table></section>")


def _split_row(label: str, part: Split, cost_scale: float, flops_scale: float, model: Split,
               link: bool = False) -> str:
    cost_bar = stacked_bar(
        [Segment(part.cost[k], COLORS[k], f"{k}: {_share(part.cost[k], model.total_cost)} of "
                 "the model's") for k in KINDS], cost_scale, label=f"{label} cost by kind")
    flops_bar = stacked_bar(
        [Segment(part.flops[k], COLORS[k], f"{k}: {_share(part.flops[k], model.total_flops)} "
                 "of the model's FLOPs") for k in KINDS], flops_scale,
        label=f"{label} FLOPs by kind")
    name = (f'<a href="#{_row_id(part.name)}">{escape(label)}</a>' if link else escape(label))
    return (f'<tr><td class="text">{name}</td><td>{cost_bar}</td>'
            f"<td>{_share(part.total_cost, model.total_cost)}</td><td>{flops_bar}</td>"
            f"<td>{_share(part.total_flops, model.total_flops)}</td></tr>")


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _roofline(analysis: Analysis, latency: LatencyEstimate | None,
              profile: Profile | None) -> str:
    """Every op with arithmetic at its intensity: with a platform, against the FLOP rate it
    attains and the profile's roofs; without one, against its MAC bytes."""
    points, left_off = [], 0
    for op in analysis.ops:
        seconds = latency.ops[op.index].seconds if latency is not None else None
        if not op.flops or not op.mac_bytes or seconds == 0.0:
            left_off += 1
            continue
        kind = kind_of(op.category)
        y = op.flops / seconds if seconds is not None else op.mac_bytes
        timed = f", {seconds * 1e6:.1f} us, {human(y)}FLOP/s" if seconds is not None else ""
        points.append(Point(op.flops / op.mac_bytes, y, COLORS[kind],
                            f"{op.module or '(model)'}: {op.op} ({kind}), {human(op.flops)} "
                            f"FLOPs, {human(op.mac_bytes, 'B')}, "
                            f"{op.flops / op.mac_bytes:.2f} FLOP/B{timed}"))
    lines = _roofs(points, profile) if latency is not None and profile is not None else []
    y_label = "attained FLOP/s (multiply-adds)" if latency is not None else "MAC bytes"
    chart = scatter(points, "arithmetic intensity (FLOP per MAC byte)", y_label,
                    decade, lambda v: decade(v) + ("" if latency else "B"), lines,
                    chart_id="roofline-chart") if points else "<p>No op does arithmetic.</p>"
    caption = (f"{len(points)} ops drawn; {left_off} left off (no arithmetic: data movement, "
               "views" + (", fused into the op before them" if latency and latency.fused
                          else "") + ").")
    about = ("Attained rate: an op's FLOPs over its estimated time. Under the bandwidth roof an "
             "op waits on memory (above it, it finds its data in cache); under the compute "
             "roof, on arithmetic; far below both, on fixed costs." if latency is not None else
             "Without a platform there are no roofs: ops to the left move many bytes per FLOP "
             "(memory-bound on any device), ops high up move the most.")
    return ('<section id="roofline"><h2>Roofline</h2>'
            f'<p class="sub">{escape(about)}</p>' + chart
            + f'<p class="muted">{escape(caption)}</p></section>')


def _roofs(points: list[Point], profile: Profile) -> list[Line]:
    """The memory roof (bandwidth x intensity) up to the highest class FLOP rate, and that
    rate: where a perfectly efficient op would sit."""
    peaks = {cls.value: rate.flops_per_s for cls, rate in profile.rates.items()
             if rate.flops_per_s}
    if not peaks or not points:
        return []
    best_class, peak = max(peaks.items(), key=lambda item: item[1])
    bandwidth = profile.bandwidth_bytes_per_s
    low = min(p.x for p in points) / 2
    high = max(p.x for p in points) * 2
    ridge = peak / bandwidth
    memory = [(x, bandwidth * x) for x in (low, min(ridge, high))]
    compute = [(max(ridge, low), peak), (high, peak)]
    return [Line(memory, f"memory {human(bandwidth, 'B')}/s", "#555", dashed=True,
                 label_at_start=True),
            Line(compute, f"compute {human(peak)}FLOP/s ({best_class})", "#555",
                 label_at_start=True)]


@dataclass(frozen=True)
class _Figure:
    key: str
    header: str
    text: bool = False


def _tree(layers: Sequence[LayerRecord]) -> list[tuple[str, str]]:
    """(name, parent) of every layer but the model, parents before children, in execution
    order: an own-forward row's parent is its module, another's the module above it."""
    names = {layer.name for layer in layers}
    children: dict[str, list[str]] = {}
    for layer in layers:
        if layer.name == "":
            continue
        parent = layer.forward_of if layer.forward_of is not None else \
            layer.name.rpartition(".")[0]
        while parent not in names:
            parent = parent.rpartition(".")[0]
        children.setdefault(parent, []).append(layer.name)
    ordered: list[tuple[str, str]] = []

    def visit(name: str) -> None:
        for child in children.get(name, []):
            ordered.append((child, name))
            visit(child)

    visit("")
    return ordered


def _row_id(name: str) -> str:
    return "layer-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _layer_table(analysis: Analysis, latency: LatencyEstimate | None,
                 diagnostics: Sequence[Diagnostic], tree: list[tuple[str, str]]) -> str:
    figures = [_Figure("type", "type", True), _Figure("calls", "calls"),
               _Figure("params", "params"), _Figure("flops", "FLOPs"), _Figure("mac", "MAC"),
               _Figure("mac_bytes", "MAC bytes"), _Figure("kernels", "kernels"),
               _Figure("peak_bytes", "peak memory")]
    if latency is not None:
        figures += [_Figure("latency", "latency (ms)"), _Figure("bound", "bound", True)]
    figures.append(_Figure("findings", "findings", True))
    codes = _codes_by_module(diagnostics)
    has_children = {parent for _, parent in tree}
    nested = _nested_counts(tree, codes)
    total = analysis.layer("")
    head = ('<th class="text" data-key="name">module</th>'
            + "".join(f'<th class="{"text" if f.text else ""}" data-key="{f.key}">'
                      f"{escape(f.header)}</th>" for f in figures))
    body = []
    for name, parent in tree:
        layer = analysis.layer(name)
        toggle = ('<button class="toggle" aria-expanded="false" aria-label="expand"></button>'
                  if name in has_children else '<span class="spacer"></span>')
        indent = f"padding-left:{8 + 14 * (layer.depth - 1)}px"
        label = name.rpartition(".")[2] if layer.forward_of is None else \
            name[len(layer.forward_of):].lstrip(".")
        cells = [f'<td class="text" data-key="name" data-value="{escape(name)}" '
                 f'style="{indent}">{toggle}<span title="{escape(name)}">{escape(label)}'
                 "</span></td>"]
        cells += [_cell(f, layer, total, latency, codes.get(name, []), nested.get(name, 0))
                  for f in figures]
        hidden = " hidden" if layer.depth > 1 else ""
        body.append(f'<tr id="{_row_id(name)}" data-name="{escape(name)}" '
                    f'data-parent="{escape(parent)}" data-depth="{layer.depth}"{hidden}>'
                    + "".join(cells) + "</tr>")
    totals = "".join(_cell(f, total, total, latency, [], 0) for f in figures)
    deepest = max((analysis.layer(name).depth for name, _ in tree), default=1)
    depth_options = "".join(f'<option value="{d}">{d}</option>' for d in range(1, deepest + 1))
    return ('<section id="layer-section"><h2>Layers</h2>'
            '<p class="sub">Click a header to sort (siblings stay under their module), a '
            'triangle to open a module. Depth shown: <select id="depth">'
            f"{depth_options}</select>. Bars: share of the model.</p>"
            f'<table id="layers"><thead><tr>{head}</tr></thead><tbody>'
            + "\n".join(body) + "</tbody>"
            f'<tfoot><tr class="total"><td class="text">total</td>{totals}</tr></tfoot>'
            "</table></section>")


def _cell(figure: _Figure, layer: LayerRecord, total: LayerRecord,
          latency: LatencyEstimate | None, codes: list[tuple[int, Diagnostic]],
          nested: int) -> str:
    key = figure.key
    if key == "type":
        return f'<td class="text" data-key="type" data-value="{escape(layer.type)}">' \
               f"{escape(layer.type)}</td>"
    if key == "bound":
        bound = latency.layers[layer.name].bound.value if latency else "-"
        return f'<td class="text" data-key="bound" data-value="{bound}">{bound}</td>'
    if key == "findings":
        badges = "".join(f'<a class="badge {d.severity.value}" href="#finding-{index}" '
                         f'title="{escape(d.message)}">{escape(d.code)}</a>'
                         for index, d in codes)
        if nested:
            badges += (f'<span class="badge inside" title="findings in the layers inside">'
                       f"{nested} inside</span>")
        return f'<td class="text" data-key="findings" data-value="{len(codes) + nested:06d}">' \
               f"{badges}</td>"
    if key == "latency":
        seconds = latency.layers[layer.name].seconds if latency else 0.0
        whole = latency.seconds if latency else 0.0
        return _bar_cell(key, seconds, whole, f"{seconds * 1e3:.3f}")
    value = {"calls": layer.calls, "params": layer.params, "flops": layer.flops,
             "mac": layer.mac, "mac_bytes": layer.mac_bytes, "kernels": layer.block.kernels,
             "peak_bytes": layer.peak_bytes}[key]
    if key == "peak_bytes":
        return f'<td data-key="{key}" data-value="{value}">{human(value, "B")}</td>'
    if key in ("flops", "mac_bytes"):
        whole = total.flops if key == "flops" else total.mac_bytes
        return _bar_cell(key, value, whole, human(value, "B" if key == "mac_bytes" else ""))
    return f'<td data-key="{key}" data-value="{value}">{human(value)}</td>'


def _bar_cell(key: str, value: float, whole: float, text: str) -> str:
    width = 100 * value / whole if whole else 0.0
    return (f'<td class="figure" data-key="{key}" data-value="{value}">'
            f'<span class="fill" style="width:{width:.1f}%"></span>{escape(text)}</td>')


def _codes_by_module(diagnostics: Sequence[Diagnostic]) -> dict[str, list[tuple[int, Diagnostic]]]:
    """Per flagged module, (finding number, diagnostic) of each cause it is an instance of."""
    found: dict[str, list[tuple[int, Diagnostic]]] = {}
    for index, diagnostic in enumerate(diagnostics):
        for instance in diagnostic.instances:
            found.setdefault(instance.module, []).append((index, diagnostic))
    return found


def _nested_counts(tree: list[tuple[str, str]],
                   codes: dict[str, list[tuple[int, Diagnostic]]]) -> dict[str, int]:
    """Per layer, the findings on the layers inside it, for a closed module to show."""
    parents = dict(tree)
    counts: Counter[str] = Counter()
    for name, found in codes.items():
        parent = parents.get(name)
        while parent:
            counts[parent] += len(found)
            parent = parents.get(parent)
    return dict(counts)


def _findings(diagnostics: Sequence[Diagnostic], tree: list[tuple[str, str]]) -> str:
    if not diagnostics:
        return '<section id="findings"><h2>Findings</h2><p>None.</p></section>'
    known = {name for name, _ in tree}
    items = []
    for index, d in enumerate(diagnostics):
        saving = f"Fixing it saves {human(d.saving.mac_bytes, 'B')} of memory traffic " \
                 f"({d.saving.share:.1%} of the model's)"
        if d.saving.seconds is not None:
            saving += (f", about {d.saving.seconds * 1e3:.3g} ms on {d.saving.profile} "
                       f"({d.saving.time_share:.1%} of the estimated time)")
        layers = ", ".join(
            (f'<a href="#{_row_id(f.module)}">{escape(f.module)}</a>' if f.module in known
             else escape(f.module or "(model)")) for f in d.instances)
        items.append(
            f'<div class="finding {d.severity.value}" id="finding-{index}">'
            f"<p><b>{escape(d.code)} {escape(d.name)}</b> ({d.severity.value}) "
            f'<span class="muted">{escape(str(d.location))}</span></p>'
            f"<p>{escape(d.message)}</p><p class=\"muted\">{escape(saving)}. Layers: "
            f"{layers}</p></div>")
    return '<section id="findings"><h2>Findings</h2>' + "".join(items) + "</section>"
