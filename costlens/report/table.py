"""The per-layer table, as plain text or GitHub markdown: units in the header, a totals row at
the end, and below it what the totals leave out (ops with no formula, modules never called)."""
from __future__ import annotations

from tabulate import tabulate

from ..analysis import Analysis, LayerRecord
from .rows import RowSelection, root_own_figures, selected_layers
from .units import human, percent

HEADERS = ("module", "type", "params", "FLOPs\n(mult-adds)", "MAC\n(elements)", "MAC\n(bytes)",
           "FLOP/B", "parallelism\n(per kernel)", "frag-\nments", "bran-\nches", "kernels",
           "elementwise\nMAC")

UNITS_LINE = ("FLOPs count multiply-adds (1 per fused multiply-add). MAC = memory access cost: "
              "elements read + written. K/M/G/T = 10^3/10^6/10^9/10^12.")


def render_table(analysis: Analysis, selection: RowSelection, markdown: bool = False) -> str:
    rows = [_row(layer) for layer in selected_layers(analysis, selection)]
    own = root_own_figures(analysis)
    if own is not None and selection.sort is None:
        flops, mac, mac_bytes = own
        rows.append([f"({analysis.model_type}.forward)", "", "", human(flops), human(mac),
                     human(mac_bytes, "B"), "", "", "", "", "", ""])
    rows.append(_row(analysis.layer(""), name="total"))
    headers = [h.replace("\n", " ") for h in HEADERS] if markdown else HEADERS
    table = tabulate(rows, headers=headers, tablefmt="github" if markdown else "simple",
                     stralign="right", disable_numparse=True, colalign=("left", "left"))
    lines = [_title(analysis), UNITS_LINE, "", table, "", *footer_lines(analysis)]
    return "\n".join(lines).rstrip() + "\n"


def _row(layer: LayerRecord, name: str | None = None) -> list[str]:
    block = layer.block
    return [name if name is not None else layer.name, layer.type, human(layer.params),
            human(layer.flops), human(layer.mac), human(layer.mac_bytes, "B"),
            f"{layer.intensity:.2f}", human(layer.parallelism), str(block.fragments),
            str(block.branches), str(block.kernels), percent(block.elementwise_mac_share)]


def _title(analysis: Analysis) -> str:
    inputs = ", ".join(f"{i.name} {'x'.join(map(str, i.tensor.shape))} {i.tensor.dtype}"
                       for i in analysis.inputs) or "no tensor inputs"
    mode = "train" if analysis.graph.training else "eval"
    return f"{analysis.model_type} on {inputs} ({mode} mode, traced on {analysis.graph.device})"


def footer_lines(analysis: Analysis) -> list[str]:
    """What a reader of the totals must know: fallbacks, ops without formulas, unused modules."""
    lines = [f"Note: {note}" for note in analysis.graph.notes]
    if analysis.unsupported_ops:
        lines.append("Ops with no cost formula, left out of every figure above:")
        for op in analysis.unsupported_ops:
            where = ", ".join(m or "(model)" for m in op.modules[:5])
            more = f" and {len(op.modules) - 5} more" if len(op.modules) > 5 else ""
            lines.append(f"  {op.op}: {op.calls} call{'s' if op.calls != 1 else ''} in {where}{more}")
    else:
        lines.append(f"All {len(analysis.ops)} ops have cost formulas.")
    unused = _unused_weights(analysis)
    if unused:
        names = ", ".join(f"{path} ({human(params)})" for path, params in unused[:5])
        more = f" and {len(unused) - 5} more" if len(unused) > 5 else ""
        lines.append(f"Modules with parameters that never ran (counted in params only): {names}{more}")
    return lines


def _unused_weights(analysis: Analysis) -> list[tuple[str, int]]:
    """Outermost never-called modules that hold parameters: dead weight worth knowing about."""
    own = {module.path: module.params for module in analysis.graph.modules}
    unused = []
    for path in analysis.uncalled_modules:
        if any(path.startswith(outer + ".") for outer, _ in unused):
            continue
        params = sum(count for name, count in own.items()
                     if name == path or name.startswith(path + "."))
        if params:
            unused.append((path, params))
    return unused
